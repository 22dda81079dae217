package ai.scaigrid.gateway.nodes;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.io.File;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One long-lived HTTP/2 channel per node address (many concurrent streams share it), plaintext or
 * TLS / mTLS as {@code scaigrid.nodes.tls.*} says. Node addresses come from heartbeats, so channels
 * are made on first use rather than from static client configuration.
 */
@ApplicationScoped
public class NodeChannels {

    @Inject
    NodesConfig config;

    @Inject
    io.vertx.core.Vertx vertx;

    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();

    public ManagedChannel channel(String address) {
        ManagedChannel existing = channels.get(address);
        if (existing != null && !existing.isShutdown()) {
            return existing;
        }
        return channels.compute(address, (a, current) -> current != null && !current.isShutdown() ? current : build(a));
    }

    private ManagedChannel build(String address) {
        // Callbacks run on the I/O thread that read the chunk (directExecutor: our observers only emit
        // downstream, never block) and the channel shares Vert.x's event loops, so a relayed token does
        // not hop through an executor and a second event loop group on its way to the client.
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .directExecutor()
                .eventLoopGroup(vertx.nettyEventLoopGroup())
                .channelType(io.netty.channel.socket.nio.NioSocketChannel.class)
                .keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveTimeout(10, TimeUnit.SECONDS)
                .maxInboundMessageSize(16 * 1024 * 1024);
        NodesConfig.Tls tls = config.tls();
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
            throw new IllegalStateException("cannot set up TLS towards ScaiInfer nodes: " + e.getMessage(), e);
        }
    }

    @PreDestroy
    void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
    }
}
