package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.security.GrpcClientTls;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Long-lived HTTP/2 channels to the nodes (many concurrent streams share one), plaintext or TLS / mTLS as
 * {@code scaigrid.nodes.tls.*} says. Node addresses come from heartbeats, so channels are made on first use
 * rather than from static client configuration.
 *
 * <p>Which thread serves a node call depends on how busy the event loop that opens it is ({@link #open}). A quiet
 * loop gets a channel of its own to the node, bound to that loop: the node's tokens are then read, relayed and
 * written to the client on one thread, as a single-worker proxy does. A busy loop hands the call to the dedicated
 * {@code scaigrid-node-io} threads: reading and relaying then run beside the loop's own work on another core.
 */
@ApplicationScoped
public class NodeChannels {

    @Inject
    NodesConfig config;

    /** Channels by node address and the threads that serve them: the own I/O threads, or one caller's event loop. */
    private final Map<ChannelKey, ManagedChannel> channels = new ConcurrentHashMap<>();
    /** Node calls open per event loop that opened them (whichever channel they use). */
    private final Map<EventExecutor, AtomicInteger> openCalls = new ConcurrentHashMap<>();

    private record ChannelKey(String address, EventLoopGroup threads) {
    }

    /**
     * The node connections' own I/O threads. Relay bench (bench-llm, 200 streams, one client connection, so one
     * event loop serving it): with every node call on that loop, a new call waited behind a whole decode step of
     * chunks, and the added time to first token was 2.40 ms at the median and 4.32 ms at p99, against 0.59-1.11 and
     * 2.89-2.95 ms with the calls on these threads. At 20 streams, on the loop: 1.34 ms at p99, against 2.21 ms here
     * (no wake-up of another thread per token): hence {@link NodesConfig#sameLoopMaxCalls()}.
     */
    private final EventLoopGroup ioThreads = new NioEventLoopGroup(Runtime.getRuntime().availableProcessors(),
            new DefaultThreadFactory("scaigrid-node-io", true));

    /** One node call's channel; {@link Use#close()} when the call has ended (idempotent). */
    public static final class Use implements AutoCloseable {
        private final ManagedChannel channel;
        private final AtomicInteger loopCalls;
        private final boolean sameLoop;
        private final AtomicBoolean closed = new AtomicBoolean();

        Use(ManagedChannel channel, AtomicInteger loopCalls, boolean sameLoop) {
            this.channel = channel;
            this.loopCalls = loopCalls;
            this.sameLoop = sameLoop;
        }

        public ManagedChannel channel() {
            return channel;
        }

        /** Whether the call runs on the event loop that opened it (else on the node connections' own threads). */
        public boolean sameLoop() {
            return sameLoop;
        }

        @Override
        public void close() {
            if (loopCalls != null && closed.compareAndSet(false, true)) {
                loopCalls.decrementAndGet();
            }
        }
    }

    /**
     * A channel for a new call to the node at {@code address}: bound to the calling thread's event loop while that
     * loop has fewer than {@code scaigrid.nodes.same-loop-max-calls} node calls open, else on the own I/O threads
     * (also from any thread that is not an event loop, or is one of those threads).
     */
    public Use open(String address) {
        EventExecutor current = ThreadExecutorMap.currentExecutor();
        if (!(current instanceof EventLoop loop) || loop.parent() == ioThreads) {
            return new Use(channel(address, ioThreads), null, false);
        }
        AtomicInteger calls = openCalls.computeIfAbsent(loop, l -> new AtomicInteger());
        boolean sameLoop = calls.getAndIncrement() < config.sameLoopMaxCalls();
        try {
            return new Use(channel(address, sameLoop ? loop : ioThreads), calls, sameLoop);
        } catch (RuntimeException e) {
            calls.decrementAndGet();
            throw e;
        }
    }

    private ManagedChannel channel(String address, EventLoopGroup threads) {
        ChannelKey key = new ChannelKey(address, threads);
        ManagedChannel existing = channels.get(key);
        if (existing != null && !existing.isShutdown()) {
            return existing;
        }
        return channels.compute(key, (k, current) -> current != null && !current.isShutdown() ? current : build(address, threads));
    }

    private ManagedChannel build(String address, EventLoopGroup threads) {
        // Callbacks run on the I/O thread that read the chunk (directExecutor: our observers only emit
        // downstream, never block), so a relayed token does not hop through an executor as well.
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .directExecutor()
                // no transparent retries: they route every message through a serializing executor (a queue per
                // chunk), and the provider already moves a call that fails before its first token to another node
                .disableRetry()
                .eventLoopGroup(threads) // not shut down with the channel: the group, or Vert.x's loop, outlives it
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
