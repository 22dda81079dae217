package ai.scaigrid.nodeagent;

import ai.scaigrid.proto.scaiinfer.v1.GpuStatus;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.NodeState;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

/**
 * GatewayLink against a stand-in gateway (a grpc-java HeartbeatService on a free port that records every
 * HeartbeatStream with the {@code authorization} it was opened with): heartbeats carry the GPUs a fake
 * {@code nvidia-smi} reports, and a service token rewritten in its file reaches the gateway on a new stream.
 */
@QuarkusTest
@TestProfile(GatewayLinkTest.Profile.class)
class GatewayLinkTest {
    static Path dir;
    static Path tokenFile;
    static Server gateway;
    static final List<Call> STREAMS = new CopyOnWriteArrayList<>();
    static final Context.Key<String> AUTHORIZATION = Context.key("authorization");

    /** One HeartbeatStream as the gateway saw it. */
    static final class Call {
        final String authorization;
        final List<HeartbeatRequest> heartbeats = new CopyOnWriteArrayList<>();
        volatile String end = "open";

        Call(String authorization) {
            this.authorization = authorization;
        }
    }

    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                start();
            } catch (Exception e) {
                throw new IllegalStateException("could not set up the test gateway", e);
            }
            return Map.of(
                    "scaigrid.node.gateway-grpc-address", "127.0.0.1:" + gateway.getPort(),
                    "scaigrid.node.heartbeat-interval", "200ms",
                    "scaigrid.node.service-token-file", tokenFile.toString(),
                    "scaigrid.node.gpu.nvidia-smi", dir.resolve("nvidia-smi").toString(),
                    "scaigrid.node.gpu.interval", "300ms");
        }
    }

    static synchronized void start() throws Exception {
        if (gateway != null) {
            return;
        }
        dir = Files.createTempDirectory("gateway-link-test");
        tokenFile = Files.writeString(dir.resolve("service-token"), "first-token\n");
        GpuProbeTest.fakeNvidiaSmi(dir, GpuProbeTest.TWO_GPUS);
        HeartbeatServiceGrpc.HeartbeatServiceImplBase service = new HeartbeatServiceGrpc.HeartbeatServiceImplBase() {
            @Override
            public StreamObserver<HeartbeatRequest> heartbeatStream(StreamObserver<HeartbeatAck> acks) {
                Call call = new Call(AUTHORIZATION.get());
                STREAMS.add(call);
                return new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatRequest r) {
                        call.heartbeats.add(r);
                        acks.onNext(HeartbeatAck.newBuilder().setAccepted(true).setNodeId(r.getNodeId())
                                .setNodeState(NodeState.NODE_STATE_ACTIVE).setAckedSequence(r.getSequence()).build());
                    }

                    @Override
                    public void onError(Throwable t) {
                        call.end = "error: " + t;
                    }

                    @Override
                    public void onCompleted() {
                        call.end = "completed";
                        acks.onCompleted();
                    }
                };
            }
        };
        ServerInterceptor headers = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata md, ServerCallHandler<Q, R> next) {
                String auth = md.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER));
                return Contexts.interceptCall(Context.current().withValue(AUTHORIZATION, auth), call, md, next);
            }
        };
        gateway = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(service, headers)).build().start();
    }

    @AfterAll
    static void stopGateway() {
        if (gateway != null) {
            gateway.shutdownNow();
        }
    }

    @Inject
    GatewayLink link;

    @Inject
    GpuProbe gpus;

    private static Call latest() {
        return STREAMS.get(STREAMS.size() - 1);
    }

    @Test
    void heartbeatsCarryTheGpusNvidiaSmiReports() {
        await().atMost(Duration.ofSeconds(10)).until(() -> gpus.current().size() == 2);
        List<GpuStatus> reported = link.report().getGpusList();
        assertThat(reported).extracting(GpuStatus::getName).containsExactly("NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 3090");
        assertThat(reported.get(0).getMemoryUsedBytes()).isEqualTo(1024L * 1024 * 1024);
        assertThat(reported.get(1).getMemoryTotalBytes()).isEqualTo(24576L * 1024 * 1024);
        assertThat(reported.get(1).getMemoryUsedBytes()).isZero(); // [N/A]

        // and they reach the gateway
        await().atMost(Duration.ofSeconds(10)).until(() -> STREAMS.stream().flatMap(c -> c.heartbeats.stream())
                .anyMatch(h -> h.getGpusList().equals(reported)));

        given().when().get("/q/health/ready").then().statusCode(200)
                .body("checks.find { it.name == 'node-config' }.data.gpus", equalTo(2))
                .body("checks.find { it.name == 'node-config' }.data.'gpu.0.name'", equalTo("NVIDIA A100-SXM4-80GB"))
                .body("checks.find { it.name == 'node-config' }.data.'gpu.0.memory_used_mib'", equalTo(1024));
    }

    @Test
    void aRotatedServiceTokenReachesTheGatewayOnANewStream() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> !STREAMS.isEmpty() && latest().heartbeats.size() >= 2);
        Call before = latest();
        String rotated = "rotated-" + System.nanoTime();

        Files.writeString(tokenFile, rotated + "\n");

        await().atMost(Duration.ofSeconds(10)).until(() -> latest().authorization.equals("Bearer " + rotated)
                && latest().heartbeats.size() >= 3);
        // the old stream was half-closed by the node, not cancelled or failed, and nothing came on it after the switch
        await().atMost(Duration.ofSeconds(5)).until(() -> before.end.equals("completed"));
        Call after = latest();
        assertThat(STREAMS.subList(STREAMS.indexOf(before) + 1, STREAMS.size())).containsExactly(after);
        int onOld = before.heartbeats.size();
        await().atMost(Duration.ofSeconds(5)).until(() -> after.heartbeats.size() >= 5);
        assertThat(before.heartbeats).hasSize(onOld);
        assertThat(after.end).isEqualTo("open");
        // the sequence carries on across the switch, and the link never counted as broken
        assertThat(after.heartbeats.get(0).getSequence()).isGreaterThan(before.heartbeats.get(onOld - 1).getSequence());
        assertThat(link.lastProblem()).isEmpty();
        assertThat(link.gatewayState()).isEqualTo(NodeState.NODE_STATE_ACTIVE);
    }
}
