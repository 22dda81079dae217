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

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code scaiinfer.v1.HeartbeatService}: inference nodes register and report here with a service
 * token of scope {@code scaiinfer.node} (anything else: UNAUTHENTICATED, a wrong scope:
 * PERMISSION_DENIED, both with {@code scaigrid-error-code}). A verified token is trusted for
 * {@code scaigrid.nodes.auth-cache-ttl} before it is checked again.
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

    private record Verified(Caller caller, long untilNanos) {
    }

    private final Map<String, Verified> verified = new ConcurrentHashMap<>();

    private Uni<Caller> authenticate() {
        String token = NodeTokenInterceptor.TOKEN.get();
        if (token != null) {
            Verified v = verified.get(token);
            if (v != null && v.untilNanos() > System.nanoTime()) {
                return Uni.createFrom().item(v.caller());
            }
        }
        // read the credential now, in the call's context
        return callers.requireService(ServiceScopes.SCAIINFER_NODE).invoke(caller -> {
            if (token != null) {
                if (verified.size() >= MAX_CACHED) {
                    verified.clear();
                }
                verified.put(token, new Verified(caller, System.nanoTime() + config.authCacheTtl().toNanos()));
            }
        });
    }

    @Override
    public Uni<HeartbeatAck> heartbeat(HeartbeatRequest request) {
        String token = NodeTokenInterceptor.TOKEN.get();
        return authenticate().map(caller -> registry.ingest(request, caller.credentialId(), token));
    }

    @Override
    public Multi<HeartbeatAck> heartbeatStream(Multi<HeartbeatRequest> requests) {
        String token = NodeTokenInterceptor.TOKEN.get();
        return authenticate().onItem().transformToMulti(caller -> Multi.createFrom().<HeartbeatAck>emitter(emitter -> {
            AtomicReference<Runnable> unlisten = new AtomicReference<>();
            AtomicReference<String> nodeId = new AtomicReference<>();
            Cancellable upstream = requests.subscribe().with(
                    request -> {
                        try {
                            HeartbeatAck ack = registry.ingest(request, caller.credentialId(), token);
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
