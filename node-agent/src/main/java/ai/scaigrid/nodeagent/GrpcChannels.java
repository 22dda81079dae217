package ai.scaigrid.nodeagent;

import ai.scaigrid.commons.security.GrpcClientTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.util.concurrent.TimeUnit;

/** The channel to the gateway's gRPC port: plaintext, TLS, or mTLS with a client certificate. */
final class GrpcChannels {
    private GrpcChannels() {
    }

    static ManagedChannel toGateway(String address, NodeAgentConfig.GatewayTls tls) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(false);
        return GrpcClientTls.build(builder, tls.enabled(), tls.trustCertificate(), tls.clientCertificate(), tls.clientKey(),
                "the gateway");
    }
}
