package ai.scaigrid.nodeagent;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;

import java.io.File;
import java.util.concurrent.TimeUnit;

/** The channel to the gateway's gRPC port: plaintext, TLS, or mTLS with a client certificate. */
final class GrpcChannels {
    private GrpcChannels() {
    }

    static ManagedChannel toGateway(String address, NodeAgentConfig.GatewayTls tls) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(false);
        if (!tls.enabled()) {
            return builder.usePlaintext().build();
        }
        try {
            SslContextBuilder ssl = GrpcSslContexts.forClient();
            tls.trustCertificate().ifPresent(path -> ssl.trustManager(new File(path)));
            if (tls.clientCertificate().isPresent() && tls.clientKey().isPresent()) {
                ssl.keyManager(new File(tls.clientCertificate().get()), new File(tls.clientKey().get()));
            }
            return builder.useTransportSecurity().sslContext(ssl.build()).build();
        } catch (Exception e) {
            throw new IllegalStateException("cannot set up TLS towards the gateway: " + e.getMessage(), e);
        }
    }
}
