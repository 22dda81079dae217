package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.gateway.inference.provider.BackendTarget;
import ai.scaigrid.gateway.inference.provider.ProviderCall;
import ai.scaigrid.gateway.inference.provider.ScaiInferProvider;
import ai.scaigrid.gateway.inference.provider.UpstreamFailure;
import ai.scaigrid.proto.scaiinfer.v1.Capacity;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.LoadedModel;
import ai.scaigrid.proto.scaiinfer.v1.ModelState;
import ai.scaigrid.proto.scaiinfer.v1.NodeHealth;
import ai.scaigrid.proto.scaiinfer.v1.NodeInstruction;
import ai.scaigrid.proto.scaiinfer.v1.NodeState;
import ai.scaigrid.commons.error.ErrorCode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Timestamp;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.specification.RequestSpecification;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static ai.scaigrid.gateway.TestKeys.ADMIN;
import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;

/**
 * The node registry through its real surfaces: scaiinfer.v1.HeartbeatService over gRPC (as a node
 * calls it) and the admin REST API; routing effects are checked through the registry and the provider.
 */
@QuarkusTest
public class NodeRegistryTest {
    private static final String RUN = UUID.randomUUID().toString().substring(0, 6);
    private static final AtomicLong SEQUENCE = new AtomicLong();
    private static final Instant STARTED = Instant.now();
    private static ManagedChannel channel;

    @Inject
    NodeRegistry registry;

    @Inject
    io.vertx.mutiny.sqlclient.Pool pool;

    @Inject
    ScaiInferProvider provider;

    @Inject
    SimulatedCatalogue simulated;

    @Inject
    ObjectMapper mapper;

    @BeforeAll
    static void open() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59051).usePlaintext().build();
    }

    @AfterAll
    static void close() {
        channel.shutdownNow();
    }

    public static String serviceToken(String scope) {
        return given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON)
                .body(Map.of("name", "node-" + RUN, "scopes", List.of(scope), "ttl_seconds", 3600))
                .when().post("/v1/service-tokens").then().statusCode(201).extract().path("data.token");
    }

    private static HeartbeatServiceGrpc.HeartbeatServiceBlockingStub stub(String authorization) {
        Metadata md = new Metadata();
        if (authorization != null) {
            md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        }
        return HeartbeatServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    public static HeartbeatRequest report(String nodeId, String model, NodeHealth health) {
        return HeartbeatRequest.newBuilder().setNodeId(nodeId).setAddress("127.0.0.1:1").setVersion("9.9.9").setEngine("simulated")
                .setCapacity(Capacity.newBuilder().setMaxConcurrency(8).setInFlight(2).setQueueDepth(0))
                .addLoadedModels(LoadedModel.newBuilder().setName(model).setState(ModelState.MODEL_STATE_READY).setModality("chat")
                        .setContextWindow(4096).setInFlight(2))
                .putLabels("region", "test")
                .setHealth(health)
                .setStartedAt(Timestamp.newBuilder().setSeconds(STARTED.getEpochSecond()).setNanos(STARTED.getNano()))
                .setSequence(SEQUENCE.incrementAndGet())
                .build();
    }

    private static RequestSpecification admin() {
        return given().header("Authorization", "Bearer " + ADMIN).contentType(ContentType.JSON);
    }

    private static String code(StatusRuntimeException e) {
        return e.getTrailers() == null ? null : e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY);
    }


    private BackendTarget backend(String model) {
        return new BackendTarget("bm_" + model, model, "scaiinfer", model, mapper.createObjectNode(), Map.of(), 0, 100);
    }

    private UpstreamFailure providerFailure(String model) {
        ProviderCall call = new ProviderCall("req-" + model, null, null, null, "test/" + model,
                (com.fasterxml.jackson.databind.node.ObjectNode) mapper.createObjectNode().set("messages",
                        mapper.createArrayNode().add(mapper.createObjectNode().put("role", "user").put("content", "hi"))), 0);
        Throwable t = org.junit.jupiter.api.Assertions.assertThrows(Throwable.class,
                () -> provider.streamChat(backend(model), call).collect().asList().await().atMost(Duration.ofSeconds(10)));
        assertThat(t).isInstanceOf(UpstreamFailure.class);
        return (UpstreamFailure) t;
    }

    /** An API key of a tenant admin in a new tenant: allowed much, but not platform infrastructure. */
    private static String tenantAdminKey(String tenantSlug, String userName) {
        String tenant = admin().body(Map.of("slug", tenantSlug + "-" + RUN, "display_name", tenantSlug)).when().post("/v1/tenants")
                .then().statusCode(201).extract().path("data.id");
        String user = admin().body(Map.of("tenant_id", tenant, "email", userName + "-" + RUN + "@x.test", "roles", List.of("tenant_admin")))
                .when().post("/v1/users").then().statusCode(201).extract().path("data.id");
        return admin().body(Map.of("name", "k", "assigned_user_id", user)).when().post("/v1/api-keys")
                .then().statusCode(201).extract().path("data.key");
    }

    @Test
    void theFirstHeartbeatRegistersTheNodeAndAdminsSeeIt() {
        String token = serviceToken("scaiinfer.node");
        String node = "reg-" + RUN;
        HeartbeatAck ack = stub("Bearer " + token).heartbeat(report(node, "m-reg-" + RUN, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(ack.getAccepted()).isTrue();
        assertThat(ack.getNodeId()).isEqualTo(node);
        assertThat(ack.getNodeState()).isEqualTo(NodeState.NODE_STATE_ACTIVE);
        assertThat(ack.getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_NONE);
        assertThat(ack.getNextHeartbeatInterval().getNanos()).isEqualTo(500_000_000);
        assertThat(ack.getHeartbeatTimeout().getSeconds()).isEqualTo(4);
        assertThat(ack.getAckedSequence()).isEqualTo(SEQUENCE.get());

        admin().when().get("/v1/nodes").then().statusCode(200).body("data.items.id", hasItem(node));
        admin().when().get("/v1/nodes/" + node).then().statusCode(200)
                .body("data.state", equalTo("ACTIVE"))
                .body("data.health", equalTo("HEALTHY"))
                .body("data.address", equalTo("127.0.0.1:1"))
                .body("data.version", equalTo("9.9.9"))
                .body("data.labels.region", equalTo("test"))
                .body("data.capacity.max_concurrency", equalTo(8))
                .body("data.capacity.in_flight", equalTo(2))
                .body("data.loaded_models[0].name", equalTo("m-reg-" + RUN))
                .body("data.loaded_models[0].state", equalTo("READY"))
                .body("data.loaded_models[0].context_window", equalTo(4096));
        assertThat(registry.node(node)).isPresent();

        // a replayed (older) report is refused and changes nothing
        HeartbeatRequest old = report(node, "other-model", NodeHealth.NODE_HEALTH_HEALTHY).toBuilder().setSequence(1).build();
        HeartbeatAck stale = stub("Bearer " + token).heartbeat(old);
        assertThat(stale.getAccepted()).isFalse();
        assertThat(stale.getMessage()).contains("sequence");
        admin().when().get("/v1/nodes/" + node).then().body("data.loaded_models[0].name", equalTo("m-reg-" + RUN));
    }

    @Test
    void aSilentNodeBecomesUnavailableAndGetsNoWorkUntilItReportsAgain() {
        String token = serviceToken("scaiinfer.node");
        String node = "quiet-" + RUN;
        String model = "m-quiet-" + RUN;
        stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(registry.pick(model, null, Set.of(), id -> true)).map(NodeSnapshot::id).hasValue(node);

        // heartbeat-timeout is 4 s in tests
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(250)).until(() ->
                "UNAVAILABLE".equals(admin().when().get("/v1/nodes/" + node).then().extract().path("data.state")));
        assertThat(registry.pick(model, null, Set.of(), id -> true)).isEmpty();
        assertThat(providerFailure(model).code()).isEqualTo(ErrorCode.MODEL_UNAVAILABLE);

        HeartbeatAck back = stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(back.getNodeState()).isEqualTo(NodeState.NODE_STATE_ACTIVE);
        assertThat(registry.pick(model, null, Set.of(), id -> true)).isPresent();
    }

    @Test
    void aDrainedNodeGetsNoNewWorkAndIsToldSoUntilReEnabled() {
        String token = serviceToken("scaiinfer.node");
        String node = "drain-" + RUN;
        String model = "m-drain-" + RUN;
        stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));

        // a node holding a HeartbeatStream open hears about the drain at once
        LinkedBlockingQueue<HeartbeatAck> pushed = new LinkedBlockingQueue<>();
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        StreamObserver<HeartbeatRequest> stream = HeartbeatServiceGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .heartbeatStream(new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatAck value) {
                        pushed.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        stream.onNext(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));
        await().atMost(Duration.ofSeconds(5)).until(() -> !pushed.isEmpty());
        assertThat(pushed.poll().getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_NONE);

        admin().body(Map.of("reason", "maintenance")).when().post("/v1/nodes/" + node + "/drain").then().statusCode(200)
                .body("data.state", equalTo("DRAINING")).body("data.admin_state", equalTo("DRAINING"))
                .body("data.admin_reason", equalTo("maintenance"));
        await().atMost(Duration.ofSeconds(5)).until(() -> pushed.stream()
                .anyMatch(a -> a.getInstruction() == NodeInstruction.NODE_INSTRUCTION_DRAIN));
        stream.onCompleted();

        HeartbeatAck ack = stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(ack.getNodeState()).isEqualTo(NodeState.NODE_STATE_DRAINING);
        assertThat(ack.getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_DRAIN);
        assertThat(ack.getMessage()).contains("maintenance");
        assertThat(registry.pick(model, null, Set.of(), id -> true)).isEmpty();
        assertThat(providerFailure(model).code()).isEqualTo(ErrorCode.MODEL_UNAVAILABLE);

        // the node obeys and reports DRAINING; re-enabled, it is told to resume and gets work again
        stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_DRAINING));
        admin().when().post("/v1/nodes/" + node + "/enable").then().statusCode(200).body("data.admin_state", equalTo("ACTIVE"));
        HeartbeatAck resumed = stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_DRAINING));
        assertThat(resumed.getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_RESUME);
        assertThat(registry.pick(model, null, Set.of(), id -> true)).isEmpty(); // still draining by its own report
        HeartbeatAck healthy = stub("Bearer " + token).heartbeat(report(node, model, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(healthy.getNodeState()).isEqualTo(NodeState.NODE_STATE_ACTIVE);
        assertThat(healthy.getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_NONE);
        assertThat(registry.pick(model, null, Set.of(), id -> true)).map(NodeSnapshot::id).hasValue(node);
    }

    /**
     * The registry's 1-second refresh can read a node's row just before an operator's decision commits and
     * apply it just after; it must not put the older decision back (seen once in CI: a re-enabled node was
     * told DRAIN again). Made deterministic here: the row is set back to the older decision, with its older
     * admin_changed_at, exactly as such a stale read delivers it, and a refresh runs. A newer decision made
     * elsewhere (another replica's) still wins.
     */
    @Test
    void aRefreshCarryingAnOlderOperatorDecisionDoesNotUndoANewerOne() {
        String token = serviceToken("scaiinfer.node");
        String node = "stale-" + RUN;
        stub("Bearer " + token).heartbeat(report(node, "m-stale-" + RUN, NodeHealth.NODE_HEALTH_HEALTHY));
        admin().body(Map.of("reason", "first")).when().post("/v1/nodes/" + node + "/drain").then().statusCode(200);
        java.time.OffsetDateTime drainedAt = pool.preparedQuery("SELECT admin_changed_at FROM inference_nodes WHERE id = $1")
                .execute(io.vertx.mutiny.sqlclient.Tuple.of(node)).await().atMost(Duration.ofSeconds(5))
                .iterator().next().getOffsetDateTime("admin_changed_at");
        admin().when().post("/v1/nodes/" + node + "/enable").then().statusCode(200).body("data.admin_state", equalTo("ACTIVE"));

        String setRow = "UPDATE inference_nodes SET admin_state = 'DRAINING', admin_reason = $2, admin_changed_at = $3 WHERE id = $1";
        pool.preparedQuery(setRow).execute(io.vertx.mutiny.sqlclient.Tuple.of(node, "first", drainedAt))
                .await().atMost(Duration.ofSeconds(5));
        registry.refresh().await().atMost(Duration.ofSeconds(5));
        assertThat(registry.node(node).map(NodeSnapshot::adminState)).as("an older decision read late").hasValue("ACTIVE");
        HeartbeatAck ack = stub("Bearer " + token).heartbeat(report(node, "m-stale-" + RUN, NodeHealth.NODE_HEALTH_HEALTHY));
        assertThat(ack.getInstruction()).isEqualTo(NodeInstruction.NODE_INSTRUCTION_NONE);

        pool.preparedQuery(setRow).execute(io.vertx.mutiny.sqlclient.Tuple.of(node, "later, elsewhere",
                java.time.OffsetDateTime.now().plusSeconds(1))).await().atMost(Duration.ofSeconds(5));
        registry.refresh().await().atMost(Duration.ofSeconds(5));
        assertThat(registry.node(node).map(NodeSnapshot::adminReason)).as("a newer decision").hasValue("later, elsewhere");
        assertThat(registry.node(node).map(NodeSnapshot::adminState)).hasValue("DRAINING");
    }

    private static io.restassured.path.json.JsonPath issue(String name) {
        return admin().body(Map.of("name", name, "scopes", List.of("scaiinfer.node"), "ttl_seconds", 3600))
                .when().post("/v1/service-tokens").then().statusCode(201).extract().jsonPath();
    }

    /** A node id belongs to the token identity (name) that registered it; another one cannot redirect it. */
    @Test
    void anotherIdentityCannotTakeOverALiveNode() {
        String node = "owned-" + RUN;
        String owner = issue("owner-" + RUN).getString("data.token");
        String intruder = issue("intruder-" + RUN).getString("data.token");
        assertThat(stub("Bearer " + owner).heartbeat(report(node, "m-owned", NodeHealth.NODE_HEALTH_HEALTHY)).getAccepted()).isTrue();
        HeartbeatRequest hijack = report(node, "m-owned", NodeHealth.NODE_HEALTH_HEALTHY).toBuilder().setAddress("10.9.9.9:50060").build();
        assertThatThrownBy(() -> stub("Bearer " + intruder).heartbeat(hijack)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(code(e)).isEqualTo("AUTHZ_PERMISSION_DENIED");
        });
        admin().when().get("/v1/nodes/" + node).then().statusCode(200).body("data.address", equalTo("127.0.0.1:1"));
        // the owner's token reissued under the same name (a rotation) keeps the node
        String rotated = issue("owner-" + RUN).getString("data.token");
        assertThat(stub("Bearer " + rotated).heartbeat(report(node, "m-owned", NodeHealth.NODE_HEALTH_HEALTHY)).getAccepted()).isTrue();
    }

    /** A HeartbeatStream lives for days: a token revoked while it is open ends it within the auth cache TTL. */
    @Test
    void aRevokedTokenEndsAnOpenHeartbeatStream() {
        var issued = issue("revoked-" + RUN);
        String token = issued.getString("data.token");
        String node = "revoked-" + RUN;
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        LinkedBlockingQueue<HeartbeatAck> acks = new LinkedBlockingQueue<>();
        java.util.concurrent.atomic.AtomicReference<Throwable> ended = new java.util.concurrent.atomic.AtomicReference<>();
        StreamObserver<HeartbeatRequest> stream = HeartbeatServiceGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .heartbeatStream(new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatAck value) {
                        acks.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.set(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        stream.onNext(report(node, "m-revoked", NodeHealth.NODE_HEALTH_HEALTHY));
        await().atMost(Duration.ofSeconds(5)).until(() -> !acks.isEmpty());
        admin().when().delete("/v1/service-tokens/" + issued.getString("data.id")).then().statusCode(204);
        await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (ended.get() == null) {
                stream.onNext(report(node, "m-revoked", NodeHealth.NODE_HEALTH_HEALTHY));
            }
            return ended.get() != null;
        });
        assertThat(Status.fromThrowable(ended.get()).getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    }

    @Test
    void heartbeatsNeedAServiceTokenWithTheNodeScope() {
        HeartbeatRequest r = report("auth-" + RUN, "m", NodeHealth.NODE_HEALTH_HEALTHY);
        assertThatThrownBy(() -> stub(null).heartbeat(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(code(e)).isEqualTo("AUTH_TOKEN_MISSING");
        });
        assertThatThrownBy(() -> stub("Bearer " + ADMIN).heartbeat(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(code(e)).isEqualTo("SERVICE_TOKEN_INVALID");
        });
        assertThatThrownBy(() -> stub("Bearer not.a.jwt").heartbeat(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(code(e)).isEqualTo("SERVICE_TOKEN_INVALID");
        });
        String mindToken = serviceToken("scaimind.node");
        assertThatThrownBy(() -> stub("Bearer " + mindToken).heartbeat(r)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(code(e)).isEqualTo("AUTH_INSUFFICIENT_SCOPE");
        });
        admin().when().get("/v1/nodes/auth-" + RUN).then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));

        String token = serviceToken("scaiinfer.node");
        assertThatThrownBy(() -> stub("Bearer " + token).heartbeat(r.toBuilder().setNodeId("").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(code(e)).isEqualTo("VALIDATION_ERROR");
                });
        assertThatThrownBy(() -> stub("Bearer " + token).heartbeat(r.toBuilder().setAddress("no-port").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode())
                        .isEqualTo(Status.Code.INVALID_ARGUMENT));
    }

    @Test
    void aReportWithNulInItIsRefusedAndDoesNotSpoilOtherNodesRows() {
        String token = serviceToken("scaiinfer.node");
        HeartbeatRequest good = report("nul-ok-" + RUN, "m", NodeHealth.NODE_HEALTH_HEALTHY);
        for (HeartbeatRequest bad : List.of(
                report("nul-a-" + RUN, "m", NodeHealth.NODE_HEALTH_HEALTHY).toBuilder().setHealthMessage("a\u0000b").build(),
                report("nul-b-" + RUN, "m", NodeHealth.NODE_HEALTH_HEALTHY).toBuilder().putLabels("zone", "eu\u0000").build(),
                report("nul-c-" + RUN, "m", NodeHealth.NODE_HEALTH_HEALTHY).toBuilder().setVersion("1.0\u0000").build())) {
            assertThatThrownBy(() -> stub("Bearer " + token).heartbeat(bad)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(code(e)).isEqualTo("VALIDATION_ERROR");
                assertThat(e.getStatus().getDescription()).contains("NUL");
            });
            admin().when().get("/v1/nodes/" + bad.getNodeId()).then().statusCode(404);
        }
        stub("Bearer " + token).heartbeat(good);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(pool.preparedQuery(
                        "SELECT count(*) FROM inference_nodes WHERE id = $1").execute(io.vertx.mutiny.sqlclient.Tuple.of(good.getNodeId()))
                .await().atMost(Duration.ofSeconds(5)).iterator().next().getLong(0)).isEqualTo(1L));
    }

    @Test
    void onlySuperAdminsManageNodes() {
        String key = tenantAdminKey("nodes", "admin");
        given().header("Authorization", "Bearer " + key).when().get("/v1/nodes").then().statusCode(403)
                .body("error.code", equalTo("AUTHZ_PERMISSION_DENIED"));
        given().header("Authorization", "Bearer " + key).contentType(ContentType.JSON).when().post("/v1/nodes/x/drain")
                .then().statusCode(403);
        given().when().get("/v1/nodes").then().statusCode(401);
        admin().when().post("/v1/nodes/no-such-node/drain").then().statusCode(404).body("error.code", equalTo("NOT_FOUND"));
        admin().body(Map.of("reason", "x".repeat(501))).when().post("/v1/nodes/no-such-node/drain").then().statusCode(400)
                .body("error.details[0].field", equalTo("reason"));
    }

    @Test
    void healthEndpointsAreOpenAndTheDetailedViewShowsLastHeartbeatsToSuperAdminsOnly() {
        String token = serviceToken("scaiinfer.node");
        String node = "health-" + RUN;
        stub("Bearer " + token).heartbeat(report(node, "m-health-" + RUN, NodeHealth.NODE_HEALTH_HEALTHY));

        given().when().get("/health").then().statusCode(200).body("status", equalTo("ok"));
        given().when().get("/health/ready").then().statusCode(200)
                .body("status", equalTo("ready")).body("checks.database", equalTo("ok"));

        given().when().get("/health/detailed").then().statusCode(401).body("error.code", equalTo("AUTH_TOKEN_MISSING"));
        String key = tenantAdminKey("health", "health");
        given().header("Authorization", "Bearer " + key).when().get("/health/detailed").then().statusCode(403)
                .body("error.code", equalTo("AUTHZ_PERMISSION_DENIED")).body("meta.request_id", org.hamcrest.Matchers.notNullValue());

        List<Map<String, Object>> nodes = admin().when().get("/health/detailed").then().statusCode(200)
                .body("status", equalTo("ok"))
                .body("checks.database.status", equalTo("ok"))
                .body("checks.database.latency_ms", org.hamcrest.Matchers.greaterThanOrEqualTo(0))
                .body("checks.usage_queue.pending_records", org.hamcrest.Matchers.greaterThanOrEqualTo(0))
                .body("open_circuits", org.hamcrest.Matchers.notNullValue())
                .extract().path("inference_nodes.findAll { it.id == '" + node + "' }");
        assertThat(nodes).hasSize(1);
        assertThat(nodes.get(0)).containsEntry("state", "ACTIVE").containsEntry("health", "HEALTHY");
        assertThat(nodes.get(0).get("last_heartbeat_at")).isNotNull();
        assertThat(((Number) nodes.get(0).get("seconds_since_heartbeat")).doubleValue()).isLessThan(60);
    }

    @Test
    void theSimulatedModelIsRegisteredOnceForLocalRuns() {
        Boolean first = simulated.ensure().await().atMost(Duration.ofSeconds(10));
        Boolean second = simulated.ensure().await().atMost(Duration.ofSeconds(10));
        assertThat(List.of(first, second)).containsExactlyInAnyOrder(first, false);
        admin().when().get("/v1/models/scaigrid/sim-1").then().statusCode(200)
                .body("data.active_backend_count", equalTo(1))
                .body("data.capabilities.streaming", equalTo(true)).body("data.capabilities.tool_use", equalTo(true));
        admin().when().get("/v1/models/scaigrid/sim-embed-1").then().statusCode(200)
                .body("data.modality", equalTo("embedding")).body("data.active_backend_count", equalTo(1));
        admin().when().get("/v1/backends").then().body("data.items.findAll { it.model_name == 'scaigrid-sim-1' }.provider_type",
                equalTo(List.of("scaiinfer", "scaiinfer")));
        // a catalogue written before the fix holds the capabilities as a JSON string: V12 unwraps it
        pool.query("UPDATE frontend_models SET capabilities = to_jsonb('{\"streaming\": true, \"tool_use\": true}'::text) "
                + "WHERE slug = 'scaigrid/sim-1'").execute().await().atMost(Duration.ofSeconds(10));
        admin().when().get("/v1/models/scaigrid/sim-1").then().body("data.capabilities.streaming", org.hamcrest.Matchers.nullValue());
        String v12;
        try (var in = getClass().getResourceAsStream("/db/migration/V12__simulated_model_capabilities.sql")) {
            v12 = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        pool.query(v12).execute().await().atMost(Duration.ofSeconds(10));
        admin().when().get("/v1/models/scaigrid/sim-1").then()
                .body("data.capabilities.streaming", equalTo(true)).body("data.capabilities.tool_use", equalTo(true));
        admin().when().get("/v1/models/scaigrid/sim-reasoning-1").then().statusCode(200)
                .body("data.capabilities.reasoning", equalTo(true)).body("data.active_backend_count", equalTo(1));
        admin().when().get("/v1/backends").then().body("data.items.findAll { it.model_name == 'scaigrid-sim-reasoning-1' }.provider_type",
                equalTo(List.of("scaiinfer")));
    }
}
