package ai.scaigrid.commons.security;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;

import java.io.File;
import java.util.Optional;

/**
 * Finishes a gRPC client channel as plaintext, TLS (trusting {@code trustCertificate}, else the JVM's
 * trust store) or mutual TLS (with a client certificate and key): the gateway's channels to its nodes
 * and a node's channel to the gateway are set up the same way.
 */
public final class GrpcClientTls {
    private GrpcClientTls() {
    }

    /** {@code peer} names the other side in the error when the certificates cannot be loaded. */
    public static ManagedChannel build(NettyChannelBuilder builder, boolean tls, Optional<String> trustCertificate,
                                       Optional<String> clientCertificate, Optional<String> clientKey, String peer) {
        if (!tls) {
            return builder.usePlaintext().build();
        }
        try {
            SslContextBuilder ssl = GrpcSslContexts.forClient();
            trustCertificate.ifPresent(path -> ssl.trustManager(new File(path)));
            if (clientCertificate.isPresent() && clientKey.isPresent()) {
                ssl.keyManager(new File(clientCertificate.get()), new File(clientKey.get()));
            }
            return builder.useTransportSecurity().sslContext(ssl.build()).build();
        } catch (Exception e) {
            throw new IllegalStateException("cannot set up TLS towards " + peer + ": " + e.getMessage(), e);
        }
    }
}
