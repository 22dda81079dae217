package ai.scaigrid.nodeagent;

import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;

@QuarkusTest
class NodeAgentHealthTest {

    @Test
    void readyWithTheDefaultSimulatedModel() {
        given().when().get("/q/health/ready").then().statusCode(200)
                .body("checks.name", hasItem("node-config"))
                .body("checks.find { it.name == 'node-config' }.data.'model.scaigrid-sim-1'", equalTo("simulated"));
    }

    @Test
    void errorsUseTheSharedEnvelope() {
        given().when().get("/nope").then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
    }
}
