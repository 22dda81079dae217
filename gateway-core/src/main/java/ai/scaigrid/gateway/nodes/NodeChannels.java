package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.security.GrpcClientTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
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

    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();

    /**
     * The node connections' own I/O threads, never one of Vert.x's event loops. A gRPC client multiplexes its
     * calls over one connection, which the gateway's gRPC server serves on one event loop; had a node
     * connection landed on that same loop (Vert.x hands its loops out round robin, so whether it did changed
     * from start to start), reading the node's tokens, relaying them and writing them to the client would all
     * queue on one thread, and every new call waited behind a whole decode step of chunks (relay bench:
     * 1.2-1.3 ms from the client to the service method at the median, against 0.15-0.4 ms on separate threads).
     */
    private final EventLoopGroup ioThreads = new NioEventLoopGroup(Runtime.getRuntime().availableProcessors(),
            new DefaultThreadFactory("scaigrid-node-io", true));

    public ManagedChannel channel(String address) {
        ManagedChannel existing = channels.get(address);
        if (existing != null && !existing.isShutdown()) {
            return existing;
        }
        return channels.compute(address, (a, current) -> current != null && !current.isShutdown() ? current : build(a));
    }

    private ManagedChannel build(String address) {
        // Callbacks run on the I/O thread that read the chunk (directExecutor: our observers only emit
        // downstream, never block), so a relayed token does not hop through an executor as well.
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .directExecutor()
                // no transparent retries: they route every message through a serializing executor (a queue per
                // chunk), and the provider already moves a call that fails before its first token to another node
                .disableRetry()
                .eventLoopGroup(ioThreads)
                .channelType(NioSocketChannel.class)
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
        ioThreads.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
