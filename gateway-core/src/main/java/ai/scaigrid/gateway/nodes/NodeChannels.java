package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.security.GrpcClientTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

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
        return GrpcClientTls.build(builder, tls.enabled(), tls.trustCertificate(), tls.clientCertificate(), tls.clientKey(),
                "ScaiInfer nodes");
    }

    @PreDestroy
    void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
    }
}
