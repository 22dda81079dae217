package ai.scaigrid.commons.it;

import ai.scaigrid.commons.test.grpc.EchoRequest;
import ai.scaigrid.commons.test.grpc.EchoServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.matchesPattern;

/** Request ids: accepted from the caller, generated otherwise, echoed, and carried REST → gRPC → REST. */
@QuarkusTest
class RequestIdPropagationTest {

    @Test
    void callerIdTravelsRestToGrpcAndBack() {
        given().header("X-Request-Id", "req_from_client_42")
                .when().get("/test/echo?text=hi")
                .then().statusCode(200)
                .header("X-Request-Id", "req_from_client_42")
                .body("data.text", equalTo("hi"))
                .body("data.rest_request_id", equalTo("req_from_client_42"))
                .body("data.grpc_request_id", equalTo("req_from_client_42"));
    }

    @Test
    void generatedIdIsTheSameOnBothSides() {
        var response = given().when().get("/test/echo?text=x")
                .then().statusCode(200)
                .header("X-Request-Id", matchesPattern("req_[A-Za-z0-9]{24}"))
                .extract().response();
        String header = response.header("X-Request-Id");
        assertThat(response.jsonPath().getString("data.grpc_request_id")).isEqualTo(header);
        assertThat(response.jsonPath().getString("data.rest_request_id")).isEqualTo(header);
    }

    @Test
    void unsafeIdIsReplaced() {
        String hostile = "req id with spaces\r\nX-Injected: 1";
        var response = given().header("X-Request-Id", hostile.replace("\r\n", " "))
                .when().get("/test/echo?text=x")
                .then().statusCode(200).extract().response();
        assertThat(response.header("X-Request-Id")).matches("req_[A-Za-z0-9]{24}");
        String tooLong = "r".repeat(200);
        given().header("X-Request-Id", tooLong).when().get("/test/echo?text=x")
                .then().header("X-Request-Id", matchesPattern("req_[A-Za-z0-9]{24}"));
    }

    @Test
    void grpcCallerIdIsUsedAndEchoedInHeaders() {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59001).usePlaintext().build();
        try {
            Metadata outgoing = new Metadata();
            outgoing.put(ErrorMappingTest.requestIdKey(), "req_grpc_client_7");
            AtomicReference<Metadata> headers = new AtomicReference<>();
            AtomicReference<Metadata> trailers = new AtomicReference<>();
            var stub = EchoServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(outgoing),
                            MetadataUtils.newCaptureMetadataInterceptor(headers, trailers));
            var reply = stub.echo(EchoRequest.newBuilder().setText("t").build());
            assertThat(reply.getRequestId()).isEqualTo("req_grpc_client_7");
            assertThat(headers.get().get(ErrorMappingTest.requestIdKey())).isEqualTo("req_grpc_client_7");
        } finally {
            channel.shutdownNow();
        }
    }
}
