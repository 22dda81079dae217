package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.security.GrpcCallers;
import ai.scaigrid.commons.security.ServiceScopes;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatService;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.Cancellable;
import jakarta.inject.Inject;
import ai.scaigrid.gateway.identity.ServiceTokenService;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code scaiinfer.v1.HeartbeatService}: inference nodes register and report here with a service
 * token of scope {@code scaiinfer.node} (anything else: UNAUTHENTICATED, a wrong scope:
 * PERMISSION_DENIED, both with {@code scaigrid-error-code}). A verified token is trusted for
 * {@code scaigrid.nodes.auth-cache-ttl} before it is checked again, on an open HeartbeatStream too.
 * Reports are filed under the token's identity (its name), which owns the node ids it registers.
 */
@GrpcService
@RegisterInterceptor(NodeTokenInterceptor.class)
public class HeartbeatGrpcService implements HeartbeatService {
    private static final int MAX_CACHED = 100_000;

    @Inject
    GrpcCallers callers;

    @Inject
    NodeRegistry registry;

    @Inject
    NodesConfig config;

    @Inject
    ServiceTokenService serviceTokens;

    private record Verified(Caller caller, long untilNanos) {
    }

    private final Map<String, Verified> verified = new ConcurrentHashMap<>();
    /** Verifications under way, so that a token presented by many streams at once is checked once. */
    private final Map<String, Uni<Caller>> verifying = new ConcurrentHashMap<>();

    private Uni<Caller> authenticate() {
        String token = NodeTokenInterceptor.TOKEN.get();
        // no usable bearer: the standard check reports what is wrong (missing, malformed ...)
        return token == null ? callers.requireService(ServiceScopes.SCAIINFER_NODE) : verify(token);
    }

    /**
     * A node token's verification (signature, revocation, scope), shared by every call and stream that
     * presents it: one real check per token per {@code auth-cache-ttl} on this replica, whatever the
     * number of nodes using it. Before this, each of 1,000 open streams verified its token every 5 s
     * (an RSA signature and a database read each time): a third of the heartbeat ingestion CPU.
     */
    private Uni<Caller> verify(String token) {
        Verified v = verified.get(token);
        if (v != null && v.untilNanos() - System.nanoTime() > 0) {
            return Uni.createFrom().item(v.caller());
        }
        return verifying.computeIfAbsent(token, t -> callers.requireService(t, ServiceScopes.SCAIINFER_NODE)
                .invoke(caller -> {
                    if (verified.size() >= MAX_CACHED) {
                        verified.clear();
                    }
                    verified.put(t, new Verified(caller, System.nanoTime() + config.authCacheTtl().toNanos()));
                })
                .onTermination().invoke(() -> verifying.remove(t))
                .memoize().indefinitely());
    }

    @Override
    public Uni<HeartbeatAck> heartbeat(HeartbeatRequest request) {
        String token = NodeTokenInterceptor.TOKEN.get();
        return authenticate().map(caller -> registry.ingest(request, serviceTokens.identityOf(caller), token));
    }

    @Override
    public Multi<HeartbeatAck> heartbeatStream(Multi<HeartbeatRequest> requests) {
        String token = NodeTokenInterceptor.TOKEN.get();
        return authenticate().onItem().transformToMulti(caller -> Multi.createFrom().<HeartbeatAck>emitter(emitter -> {
            AtomicReference<Runnable> unlisten = new AtomicReference<>();
            AtomicReference<String> nodeId = new AtomicReference<>();
            AtomicLong verifiedAt = new AtomicLong(System.nanoTime());
            AtomicBoolean checking = new AtomicBoolean();
            String identity = serviceTokens.identityOf(caller);
            Cancellable upstream = requests.subscribe().with(
                    request -> {
                        long now = System.nanoTime();
                        if (token != null && now - verifiedAt.get() > config.authCacheTtl().toNanos() && checking.compareAndSet(false, true)) {
                            // reports go on meanwhile; a token found revoked ends the stream (UNAUTHENTICATED)
                            // (a stream lives for days: its token is verified again once per auth-cache-ttl)
                            verify(token).subscribe().with(ok -> {
                                verifiedAt.set(System.nanoTime());
                                checking.set(false);
                            }, emitter::fail);
                        }
                        try {
                            HeartbeatAck ack = registry.ingest(request, identity, token);
                            if (nodeId.compareAndSet(null, request.getNodeId())) {
                                // from now on, operator changes reach this node at once
                                unlisten.set(registry.listen(request.getNodeId(), emitter::emit));
                            }
                            emitter.emit(ack);
                        } catch (RuntimeException e) {
                            emitter.fail(e);
                        }
                    },
                    emitter::fail,
                    emitter::complete);
            emitter.onTermination(() -> {
                upstream.cancel();
                Runnable r = unlisten.get();
                if (r != null) {
                    r.run();
                }
            });
        }));
    }
}
