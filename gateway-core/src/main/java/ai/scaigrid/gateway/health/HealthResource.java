package ai.scaigrid.gateway.health;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.CurrentCaller;
import ai.scaigrid.commons.security.PublicEndpoint;
import ai.scaigrid.gateway.inference.CircuitBreaker;
import ai.scaigrid.gateway.inference.InferencePipeline;
import ai.scaigrid.gateway.inference.UsageRecorder;
import ai.scaigrid.gateway.nodes.NodeRegistry;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The platform's documented health endpoints, next to Quarkus' own {@code /q/health/*}:
 * {@code GET /health} (liveness, for load balancers), {@code GET /health/ready} (the database answers;
 * 503 otherwise) and {@code GET /health/detailed} for super admins: database round trip, usage records
 * not yet written, the ScaiInfer nodes' last heartbeats and every backend circuit that is not closed.
 * Kept outside the success envelope because load balancers and probes read these shapes as documented.
 */
@Path("/health")
@Produces(MediaType.APPLICATION_JSON)
public class HealthResource {
    private static final Duration PING_TIMEOUT = Duration.ofSeconds(2);

    @Inject
    Pool pool;

    @Inject
    NodeRegistry nodes;

    @Inject
    InferencePipeline pipeline;

    @Inject
    UsageRecorder usage;

    @Inject
    CurrentCaller caller;

    @Inject
    Drain drain;

    @ConfigProperty(name = "quarkus.application.version", defaultValue = "dev")
    String version;

    @GET
    @PublicEndpoint
    public Map<String, Object> live() {
        return Map.of("status", "ok");
    }

    @GET
    @Path("/ready")
    @PublicEndpoint
    public Uni<Response> ready() {
        return pingDatabase().map(ping -> {
            boolean database = ping.error == null;
            boolean serving = !drain.shuttingDown();
            Map<String, Object> checks = new LinkedHashMap<>();
            checks.put("database", database ? "ok" : "unavailable");
            checks.put("shutdown", serving ? "serving" : "draining");
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("status", database && serving ? "ready" : "not_ready");
            body.put("checks", checks);
            return Response.status(database && serving ? 200 : 503).entity(body).build();
        });
    }

    @GET
    @Path("/detailed")
    public Uni<Response> detailed() {
        if (!caller.get().isSuperAdmin()) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Only super admins may read the detailed health view");
        }
        return pingDatabase().flatMap(ping -> {
            Map<String, Object> database = new LinkedHashMap<>();
            database.put("status", ping.error == null ? "ok" : "unavailable");
            database.put("latency_ms", ping.error == null ? ping.millis : null);
            Uni<List<Map<String, Object>>> nodeViews = ping.error != null
                    ? Uni.createFrom().item(List.of())
                    : nodes.list().map(HealthResource::nodeSummaries)
                    .onFailure().recoverWithItem(List.of());
            return nodeViews.map(nodeList -> {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("status", ping.error == null ? "ok" : "degraded");
                body.put("version", version);
                body.put("uptime_seconds", ManagementFactory.getRuntimeMXBean().getUptime() / 1000);
                Map<String, Object> checks = new LinkedHashMap<>();
                checks.put("database", database);
                checks.put("usage_queue", Map.of("pending_records", usage.queued()));
                checks.put("shutdown", drain.shuttingDown() ? "draining" : "serving");
                body.put("checks", checks);
                body.put("inference_nodes", nodeList);
                List<Map<String, Object>> circuits = new ArrayList<>();
                pipeline.circuitStates().forEach((backend, state) -> {
                    if (state != CircuitBreaker.State.CLOSED) {
                        circuits.add(Map.of("backend_id", backend, "state", state.name()));
                    }
                });
                body.put("open_circuits", circuits);
                return Response.status(ping.error == null ? 200 : 503).entity(body).build();
            });
        });
    }

    private static List<Map<String, Object>> nodeSummaries(List<NodeRegistry.NodeView> views) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (NodeRegistry.NodeView n : views) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", n.id());
            m.put("state", n.state());
            m.put("admin_state", n.adminState());
            m.put("health", n.health());
            m.put("last_heartbeat_at", n.lastHeartbeatAt() == null ? null : n.lastHeartbeatAt().toString());
            m.put("seconds_since_heartbeat", Math.round(n.secondsSinceHeartbeat() * 10) / 10.0);
            m.put("loaded_models", n.loadedModels());
            out.add(m);
        }
        return out;
    }

    private record Ping(long millis, Throwable error) {
    }

    private Uni<Ping> pingDatabase() {
        long start = System.nanoTime();
        return pool.query("SELECT 1").execute()
                .ifNoItem().after(PING_TIMEOUT).fail()
                .map(rows -> new Ping((System.nanoTime() - start) / 1_000_000, null))
                .onFailure().recoverWithItem(t -> new Ping(-1, t));
    }
}
