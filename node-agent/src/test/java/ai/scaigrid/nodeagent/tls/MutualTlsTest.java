package ai.scaigrid.nodeagent.tls;

import ai.scaigrid.proto.scaiinfer.v1.ChatMessage;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.InferenceRequest;
import ai.scaigrid.proto.scaiinfer.v1.InferenceServiceGrpc;
import ai.scaigrid.proto.scaiinfer.v1.NodeState;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * TLS is configuration only, both ways, checked with real handshakes: the node-agent heartbeats to a
 * gateway that requires a client certificate (mTLS, {@code scaigrid.node.gateway-tls.*}), and serves
 * its own gRPC port with TLS that requires the gateway's client certificate
 * ({@code quarkus.grpc.server.ssl.*}). The gateway here is a stand-in HeartbeatService on a
 * grpc-java TLS server that records which certificate each heartbeat came with.
 */
@QuarkusTest
@TestProfile(MutualTlsTest.Profile.class)
class MutualTlsTest {
    static TestCertificates certs;
    static TestCertificates.Issued gatewayCert;
    static TestCertificates.Issued nodeCert;
    static Server gateway;
    static final Set<String> HEARTBEATS_FROM = ConcurrentHashMap.newKeySet();

    public static class Profile implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                startGateway();
            } catch (Exception e) {
                throw new IllegalStateException("could not set up the TLS test gateway", e);
            }
            return Map.ofEntries(
                    Map.entry("scaigrid.node.gateway-grpc-address", "127.0.0.1:" + gateway.getPort()),
                    Map.entry("scaigrid.node.heartbeat-interval", "200ms"),
                    Map.entry("scaigrid.node.service-token", "node-service-token"),
                    Map.entry("scaigrid.node.gateway-tls.enabled", "true"),
                    Map.entry("scaigrid.node.gateway-tls.trust-certificate", certs.caCert.toString()),
                    Map.entry("scaigrid.node.gateway-tls.client-certificate", nodeCert.certificate().toString()),
                    Map.entry("scaigrid.node.gateway-tls.client-key", nodeCert.key().toString()),
                    Map.entry("quarkus.grpc.server.ssl.certificate", nodeCert.certificate().toString()),
                    Map.entry("quarkus.grpc.server.ssl.key", nodeCert.key().toString()),
                    Map.entry("quarkus.grpc.server.ssl.trust-store", certs.trustStore.toString()),
                    Map.entry("quarkus.grpc.server.ssl.trust-store-type", "pkcs12") /* lower case only */,
                    Map.entry("quarkus.grpc.server.ssl.trust-store-password", TestCertificates.PASSWORD),
                    Map.entry("quarkus.grpc.server.ssl.client-auth", "REQUIRED"));
        }
    }

    static synchronized void startGateway() throws Exception {
        if (gateway != null) {
            return;
        }
        certs = TestCertificates.create();
        gatewayCert = certs.issue("scaigrid-gateway");
        nodeCert = certs.issue("scaigrid-node");
        HeartbeatServiceGrpc.HeartbeatServiceImplBase service = new HeartbeatServiceGrpc.HeartbeatServiceImplBase() {
            @Override
            public StreamObserver<HeartbeatRequest> heartbeatStream(StreamObserver<HeartbeatAck> acks) {
                return new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatRequest r) {
                        acks.onNext(record(r));
                    }

                    @Override
                    public void onError(Throwable t) {
                    }

                    @Override
                    public void onCompleted() {
                        acks.onCompleted();
                    }
                };
            }

            @Override
            public void heartbeat(HeartbeatRequest r, StreamObserver<HeartbeatAck> ack) {
                ack.onNext(record(r));
                ack.onCompleted();
            }
        };
        gateway = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(gatewayCert.certificate().toFile(),
                        gatewayCert.key().toFile())).trustManager(certs.caCert.toFile()).clientAuth(ClientAuth.REQUIRE).build())
                .addService(ServerInterceptors.intercept(service, new PeerRecorder()))
                .build().start();
    }

    /** Notes which node sent a heartbeat with which client certificate, and accepts it. */
    static HeartbeatAck record(HeartbeatRequest r) {
        HEARTBEATS_FROM.add(r.getNodeId() + " as " + PEER.get());
        return HeartbeatAck.newBuilder().setAccepted(true).setNodeId(r.getNodeId())
                .setNodeState(NodeState.NODE_STATE_ACTIVE).setAckedSequence(r.getSequence()).build();
    }

    /** The subject of the client certificate of the call being served. */
    static final ThreadLocal<String> PEER = new ThreadLocal<>();

    static final class PeerRecorder implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
            String subject;
            try {
                subject = session == null ? "plaintext" : session.getPeerPrincipal().getName();
            } catch (SSLPeerUnverifiedException e) {
                subject = "no client certificate";
            }
            String peer = subject;
            ServerCall.Listener<Q> delegate = next.startCall(call, headers);
            return new io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
                @Override
                public void onMessage(Q message) {
                    PEER.set(peer);
                    try {
                        super.onMessage(message);
                    } finally {
                        PEER.remove();
                    }
                }
            };
        }
    }

    @AfterAll
    static void stopGateway() {
        if (gateway != null) {
            gateway.shutdownNow();
        }
    }

    @Test
    void heartbeatsReachTheGatewayOverMutualTls() {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(HEARTBEATS_FROM).contains("test-node as CN=scaigrid-node"));
    }

    private static ManagedChannel nodeChannel(boolean clientCertificate) throws Exception {
        SslContextBuilder ssl = GrpcSslContexts.forClient().trustManager(certs.caCert.toFile());
        if (clientCertificate) {
            ssl.keyManager(gatewayCert.certificate().toFile(), gatewayCert.key().toFile());
        }
        return NettyChannelBuilder.forAddress("127.0.0.1", 59060).sslContext(ssl.build()).build();
    }

    private static InferenceServiceGrpc.InferenceServiceBlockingStub stub(ManagedChannel channel) {
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer test-gateway-token");
        return InferenceServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static final InferenceRequest HELLO = InferenceRequest.newBuilder().setModel("scaigrid-sim-1").setSeed(3)
            .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hello over mTLS")).build();

    @Test
    void theNodeServesTheGatewayOverMutualTlsOnly() throws Exception {
        ManagedChannel trusted = nodeChannel(true);
        try {
            assertThat(stub(trusted).infer(HELLO).getMessage().getContent()).isNotBlank();
        } finally {
            trusted.shutdownNow();
        }

        ManagedChannel anonymous = nodeChannel(false);
        try {
            assertThatThrownBy(() -> stub(anonymous).infer(HELLO)).isInstanceOfSatisfying(StatusRuntimeException.class,
                    e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            anonymous.shutdownNow();
        }

        ManagedChannel plaintext = NettyChannelBuilder.forAddress("127.0.0.1", 59060).usePlaintext().build();
        try {
            assertThatThrownBy(() -> stub(plaintext).infer(HELLO)).isInstanceOf(StatusRuntimeException.class);
        } finally {
            plaintext.shutdownNow();
        }
    }
}
