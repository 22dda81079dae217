package ai.scaigrid.gateway.nodes;

import ai.scaigrid.commons.crypto.EnvelopeEncryption;
import ai.scaigrid.commons.crypto.PlatformKek;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.proto.scaiinfer.v1.GpuStatus;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatAck;
import ai.scaigrid.proto.scaiinfer.v1.HeartbeatRequest;
import ai.scaigrid.proto.scaiinfer.v1.LoadedModel;
import ai.scaigrid.proto.scaiinfer.v1.NodeInstruction;
import ai.scaigrid.proto.scaiinfer.v1.NodeState;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.core.Vertx;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Row;
import io.vertx.mutiny.sqlclient.RowSet;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * The ScaiInfer node registry. Shared through PostgreSQL ({@code inference_nodes}) so that every
 * gateway replica can route to every node; each replica also keeps an in-memory snapshot, which is
 * what routing reads (no database round trip per request).
 *
 * <p>Heartbeats are cheap on purpose (a thousand nodes a second must cost little): a heartbeat
 * updates the snapshot at once and is written to the database in a batch every
 * {@code flush-interval} (one multi-row upsert), and the snapshot is re-read every
 * {@code refresh-interval} to learn about nodes that report to other replicas and about operator
 * changes. Liveness is measured on the database clock (now() - last_heartbeat_at) and carried over
 * to this JVM's monotonic clock, so replicas need no synchronised clocks.
 */
@ApplicationScoped
public class NodeRegistry {
    private static final Logger LOG = Logger.getLogger(NodeRegistry.class);
    public static final Pattern NODE_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final String AAD = "gateway/inference_nodes/";
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    @Inject
    Pool pool;

    @Inject
    NodesConfig config;

    @Inject
    PlatformKek kek;

    @Inject
    ObjectMapper mapper;

    @Inject
    Vertx vertx;

    @Inject
    MeterRegistry metrics;

    private final Map<String, NodeSnapshot> nodes = new ConcurrentHashMap<>();
    /**
     * When the operator state this replica holds for a node was decided (the row's admin_changed_at): a
     * refresh whose read began before a drain or enable made here must not put the older state back.
     */
    private final Map<String, OffsetDateTime> adminDecidedAt = new ConcurrentHashMap<>();
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    /** Raw service tokens of nodes that heartbeat to this replica (used to call them back). */
    private final Map<String, String> callTokens = new ConcurrentHashMap<>();
    private final Map<String, String> unsealed = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> localInFlight = new ConcurrentHashMap<>();
    private final Map<String, Set<Consumer<HeartbeatAck>>> listeners = new ConcurrentHashMap<>();
    /** This replica (process), so that a refresh skips what it wrote itself. */
    private final String replicaId = java.util.UUID.randomUUID().toString();
    /** Database time of the last refresh, minus a margin for transactions still committing. */
    private volatile OffsetDateTime refreshedSince;
    private long flushTimer = -1;
    private long refreshTimer = -1;
    private Counter heartbeats;

    /** One node's latest report waiting to be written; {@code livenessOnly}: nothing but the heartbeat time changed. */
    private record Pending(HeartbeatRequest report, String reporter, String sealedToken, boolean livenessOnly) {
    }

    /** What was last queued for writing per node, and when. */
    private record Written(HeartbeatRequest report, long atNanos) {
    }

    private final Map<String, Written> written = new ConcurrentHashMap<>();

    void onStart(@Observes StartupEvent event) {
        refresh().await().atMost(java.time.Duration.ofSeconds(30));
        flushTimer = vertx.setPeriodic(Math.max(10, config.flushInterval().toMillis()), t -> flush().subscribe().with(
                x -> { }, e -> LOG.warnf("node heartbeats could not be written: %s", e.getMessage())));
        refreshTimer = vertx.setPeriodic(Math.max(50, config.refreshInterval().toMillis()), t -> refresh().subscribe().with(
                x -> { }, e -> LOG.warnf("node registry could not be read: %s", e.getMessage())));
        heartbeats = Counter.builder("scaigrid_scaiinfer_heartbeats_total").description("Node heartbeats received").register(metrics);
        for (String state : List.of(NodeSnapshot.ACTIVE, NodeSnapshot.DRAINING, NodeSnapshot.UNAVAILABLE, NodeSnapshot.DISABLED)) {
            Gauge.builder("scaigrid_scaiinfer_nodes", this, r -> r.count(state)).tag("state", state)
                    .description("ScaiInfer nodes by registry state").register(metrics);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        vertx.cancelTimer(flushTimer);
        vertx.cancelTimer(refreshTimer);
        try {
            flush().await().atMost(java.time.Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            LOG.warnf("last node heartbeats were not written: %s", e.getMessage());
        }
    }

    private long count(String state) {
        long now = System.nanoTime();
        long timeout = config.heartbeatTimeout().toMillis();
        return nodes.values().stream().filter(n -> n.state(now, timeout).equals(state)).count();
    }

    // ------------------------------------------------------------------ heartbeats

    /**
     * Registers or refreshes a node from its heartbeat and answers it. {@code reporter} is the identity
     * of the service token (its name, which survives reissuing it), {@code rawToken} the token itself
     * (kept to call the node back with it). A node id belongs to the identity that registered it: while
     * that registration is live another identity's report for the id is refused (PERMISSION_DENIED), so
     * one node's token cannot redirect another node's traffic; once the node has been silent past the
     * heartbeat timeout the id may be registered again.
     */
    public HeartbeatAck ingest(HeartbeatRequest report, String reporter, String rawToken) {
        NodeSnapshot known = nodes.get(report.getNodeId());
        if (known == null || !known.address().equals(report.getAddress())) {
            validate(report);
        } else {
            validateFigures(report);
        }
        if (known != null && known.owner() != null && reporter != null && !known.owner().equals(reporter)
                && !known.owner().startsWith("svt_") // rows written before identities were recorded hold a token id
                && known.live(System.nanoTime(), config.heartbeatTimeout().toMillis())) {
            throw new ApiException(ErrorCode.AUTHZ_PERMISSION_DENIED, "Node id " + report.getNodeId()
                    + " is registered to another service identity", Map.of("node_id", report.getNodeId()));
        }
        if (heartbeats != null) {
            heartbeats.increment();
        }
        String id = report.getNodeId();
        long now = System.nanoTime();
        long startedMillis = report.hasStartedAt() ? millis(report.getStartedAt()) : 0L;
        NodeSnapshot previous = nodes.get(id);
        if (previous != null && previous.startedAtMillis() == startedMillis && report.getSequence() > 0
                && report.getSequence() <= previous.sequence()) {
            return ack(previous, now, false, "Stale or duplicate heartbeat: sequence " + report.getSequence()
                    + " is not after " + previous.sequence(), report.getSequence());
        }
        String sealed = previous == null ? null : previous.sealedCallToken();
        if (rawToken != null && !rawToken.equals(callTokens.put(id, rawToken))) {
            Optional<EnvelopeEncryption> crypto = kek.encryption();
            if (crypto.isPresent()) {
                sealed = crypto.get().seal(rawToken, AAD + id);
                unsealed.put(sealed, rawToken);
            }
        }
        List<NodeSnapshot.Model> models = new ArrayList<>(report.getLoadedModelsCount());
        for (LoadedModel m : report.getLoadedModelsList()) {
            models.add(new NodeSnapshot.Model(m.getName(), enumName(m.getState().name(), "MODEL_STATE_"), m.getModality()));
        }
        String health = healthOf(report);
        NodeSnapshot next = new NodeSnapshot(id, report.getAddress(), report.getVersion(), report.getEngine(), health,
                report.getHealthMessage(), previous == null ? NodeSnapshot.ACTIVE : previous.adminState(),
                previous == null ? null : previous.adminReason(), report.getCapacity().getMaxConcurrency(),
                report.getCapacity().getInFlight(), report.getCapacity().getQueueDepth(), List.copyOf(models),
                report.getSequence(), startedMillis, now, sealed, reporter);
        nodes.put(id, next);
        // Write-behind with coalescing: a report that says nothing new is written only when the stored
        // liveness would otherwise age past a quarter of the timeout (other replicas judge liveness by it).
        String newSeal = sealed != null && (previous == null || !sealed.equals(previous.sealedCallToken())) ? sealed : null;
        Written last = written.get(id);
        boolean changed = last == null || newSeal != null || !sameContent(last.report(), report);
        if (changed || now - last.atNanos() >= config.heartbeatTimeout().toNanos() / 4) {
            written.put(id, new Written(report, now));
            pending.merge(id, new Pending(report, reporter, newSeal, !changed), (old, fresh) -> new Pending(fresh.report(),
                    fresh.reporter(), fresh.sealedToken() != null ? fresh.sealedToken() : old.sealedToken(),
                    fresh.livenessOnly() && old.livenessOnly()));
        }
        if (previous == null) {
            LOG.infof("ScaiInfer node %s registered at %s with %d model(s)", id, report.getAddress(), models.size());
        } else if (previous.startedAtMillis() != startedMillis) {
            LOG.infof("ScaiInfer node %s restarted", id);
        }
        return ack(next, now, true, "", report.getSequence());
    }

    private static void validate(HeartbeatRequest r) {
        if (r.getNodeId().isEmpty() || !NODE_ID.matcher(r.getNodeId()).matches()) {
            throw ApiException.validation("node_id", "node_id is required: 1-128 characters of letters, digits, . _ -");
        }
        String address = r.getAddress();
        int colon = address.lastIndexOf(':');
        boolean ok = colon > 0 && colon < address.length() - 1 && address.length() <= 300;
        if (ok) {
            try {
                int port = Integer.parseInt(address.substring(colon + 1));
                ok = port > 0 && port < 65536;
            } catch (NumberFormatException e) {
                ok = false;
            }
        }
        if (!ok) {
            throw ApiException.validation("address", "address is required as host:port");
        }
        validateFigures(r);
    }

    private static void validateFigures(HeartbeatRequest r) {
        if (r.getCapacity().getMaxConcurrency() < 0 || r.getCapacity().getInFlight() < 0 || r.getCapacity().getQueueDepth() < 0) {
            throw ApiException.validation("capacity", "capacity figures must not be negative");
        }
        if (r.getLoadedModelsCount() > 1000) {
            throw ApiException.validation("loaded_models", "at most 1000 models per node");
        }
        for (LoadedModel m : r.getLoadedModelsList()) {
            if (m.getName().isBlank() || m.getName().length() > 200) {
                throw ApiException.validation("loaded_models", "every loaded model needs a name (1-200 characters)");
            }
            noNul("loaded_models.name", m.getName());
            noNul("loaded_models.quantization", m.getQuantization());
            noNul("loaded_models.modality", m.getModality());
        }
        // reports are stored in batches: one value PostgreSQL cannot store (NUL) would fail every node's row in the batch
        noNul("address", r.getAddress());
        noNul("version", r.getVersion());
        noNul("health_message", r.getHealthMessage());
        noNul("engine", r.getEngine());
        for (var gpu : r.getGpusList()) {
            noNul("gpus.name", gpu.getName());
        }
        r.getLabelsMap().forEach((k, v) -> {
            noNul("labels", k);
            noNul("labels", v);
        });
    }

    private static void noNul(String field, String value) {
        if (value.indexOf('\0') >= 0) {
            throw ApiException.validation(field, field + " must not contain NUL (\\u0000) characters");
        }
    }

    private static String healthOf(HeartbeatRequest r) {
        return r.getHealthValue() == 0 ? "HEALTHY" : enumName(r.getHealth().name(), "NODE_HEALTH_");
    }

    /** Same report but for sequence and send time? (Field by field: cheaper than copying the message.) */
    private static boolean sameContent(HeartbeatRequest a, HeartbeatRequest b) {
        return a.getHealthValue() == b.getHealthValue() && a.getCapacity().equals(b.getCapacity())
                && a.getAddress().equals(b.getAddress()) && a.getStartedAt().equals(b.getStartedAt())
                && a.getLoadedModelsList().equals(b.getLoadedModelsList()) && a.getHealthMessage().equals(b.getHealthMessage())
                && a.getVersion().equals(b.getVersion()) && a.getEngine().equals(b.getEngine())
                && a.getGpusList().equals(b.getGpusList()) && a.getLabelsMap().equals(b.getLabelsMap());
    }

    static String enumName(String name, String prefix) {
        return name.startsWith(prefix) ? name.substring(prefix.length()) : "UNSPECIFIED";
    }

    HeartbeatAck ack(NodeSnapshot node, long nowNanos, boolean accepted, String message, long sequence) {
        String state = node.state(nowNanos, config.heartbeatTimeout().toMillis());
        NodeInstruction instruction = NodeInstruction.NODE_INSTRUCTION_NONE;
        String detail = message;
        if (NodeSnapshot.DRAINING.equals(node.adminState())) {
            instruction = NodeInstruction.NODE_INSTRUCTION_DRAIN;
            detail = message.isEmpty() ? "drained by an operator" + (node.adminReason() == null ? "" : ": " + node.adminReason()) : message;
        } else if (NodeSnapshot.ACTIVE.equals(node.adminState()) && "DRAINING".equals(node.health())) {
            // an operator re-enabled a drained node (a node that drains for its own shutdown ignores this)
            instruction = NodeInstruction.NODE_INSTRUCTION_RESUME;
        }
        Instant now = Instant.now();
        return HeartbeatAck.newBuilder()
                .setAccepted(accepted)
                .setNodeState(switch (state) {
                    case NodeSnapshot.DRAINING -> NodeState.NODE_STATE_DRAINING;
                    case NodeSnapshot.DISABLED -> NodeState.NODE_STATE_DISABLED;
                    case NodeSnapshot.UNAVAILABLE -> NodeState.NODE_STATE_UNAVAILABLE;
                    default -> NodeState.NODE_STATE_ACTIVE;
                })
                .setInstruction(instruction)
                .setNextHeartbeatInterval(duration(config.heartbeatInterval()))
                .setHeartbeatTimeout(duration(config.heartbeatTimeout()))
                .setMessage(detail)
                .setServerTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                .setAckedSequence(sequence)
                .setNodeId(node.id())
                .build();
    }

    /** An unsolicited ack for nodes holding a HeartbeatStream open (after an operator change). */
    private void push(NodeSnapshot node) {
        Set<Consumer<HeartbeatAck>> subs = listeners.get(node.id());
        if (subs != null && !subs.isEmpty()) {
            HeartbeatAck ack = ack(node, System.nanoTime(), true, "", 0);
            subs.forEach(s -> s.accept(ack));
        }
    }

    public Runnable listen(String nodeId, Consumer<HeartbeatAck> listener) {
        listeners.computeIfAbsent(nodeId, k -> new CopyOnWriteArraySet<>()).add(listener);
        return () -> {
            Set<Consumer<HeartbeatAck>> subs = listeners.get(nodeId);
            if (subs != null) {
                subs.remove(listener);
            }
        };
    }

    // ------------------------------------------------------------------ persistence

    private static final String UPSERT = """
            INSERT INTO inference_nodes AS n (id, address, version, engine, labels, models, gpus, max_concurrency, in_flight,
                queue_depth, health, health_message, sequence, started_at, sent_at, registered_by, reported_by,
                call_token_sealed, reporter_replica, last_heartbeat_at, updated_at)
            SELECT u.id, u.address, u.version, u.engine, u.labels::jsonb, u.models::jsonb, u.gpus::jsonb, u.max_concurrency,
                   u.in_flight, u.queue_depth, u.health, u.health_message, u.sequence, u.started_at, u.sent_at, u.reporter,
                   u.reporter, u.sealed, $18, now(), now()
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[],
                        $9::int[], $10::int[], $11::text[], $12::text[], $13::bigint[], $14::timestamptz[],
                        $15::timestamptz[], $16::text[], $17::text[])
                 AS u(id, address, version, engine, labels, models, gpus, max_concurrency, in_flight, queue_depth, health,
                      health_message, sequence, started_at, sent_at, reporter, sealed)
            ON CONFLICT (id) DO UPDATE SET
                address = EXCLUDED.address, version = EXCLUDED.version, engine = EXCLUDED.engine, labels = EXCLUDED.labels,
                models = EXCLUDED.models, gpus = EXCLUDED.gpus, max_concurrency = EXCLUDED.max_concurrency,
                in_flight = EXCLUDED.in_flight, queue_depth = EXCLUDED.queue_depth, health = EXCLUDED.health,
                health_message = EXCLUDED.health_message, sequence = EXCLUDED.sequence, started_at = EXCLUDED.started_at,
                sent_at = EXCLUDED.sent_at, reported_by = EXCLUDED.reported_by, registered_by = EXCLUDED.registered_by,
                call_token_sealed = coalesce(EXCLUDED.call_token_sealed, n.call_token_sealed),
                reporter_replica = EXCLUDED.reporter_replica, last_heartbeat_at = now(), updated_at = now()
            WHERE n.started_at IS DISTINCT FROM EXCLUDED.started_at OR n.sequence < EXCLUDED.sequence
                OR EXCLUDED.sequence = 0""";

    /** Writes every pending heartbeat in one statement. */
    public Uni<Void> flush() {
        if (pending.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        List<Pending> batch = new ArrayList<>(pending.size());
        for (String id : new ArrayList<>(pending.keySet())) {
            Pending p = pending.remove(id);
            if (p != null) {
                batch.add(p);
            }
        }
        if (batch.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        List<Pending> full = new ArrayList<>(batch.size());
        List<Pending> liveness = new ArrayList<>();
        for (Pending p : batch) {
            (p.livenessOnly() ? liveness : full).add(p);
        }
        return upsert(full).flatMap(x -> touch(liveness))
                .onFailure().invoke(e -> batch.forEach(p -> {
                    pending.putIfAbsent(p.report().getNodeId(), p);
                    written.remove(p.report().getNodeId());
                }));
    }

    private static final String TOUCH = """
            UPDATE inference_nodes n SET last_heartbeat_at = now(), sequence = u.sequence, sent_at = u.sent_at,
                reporter_replica = $5
            FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[]) AS u(id, sequence, started_at, sent_at)
            WHERE n.id = u.id AND n.started_at IS NOT DISTINCT FROM u.started_at AND n.sequence < u.sequence""";

    /** Liveness only: the stored report is unchanged but for its time and sequence. */
    private Uni<Void> touch(List<Pending> batch) {
        if (batch.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        int n = batch.size();
        String[] ids = new String[n];
        Long[] seq = new Long[n];
        OffsetDateTime[] started = new OffsetDateTime[n], sent = new OffsetDateTime[n];
        for (int i = 0; i < n; i++) {
            HeartbeatRequest r = batch.get(i).report();
            ids[i] = r.getNodeId();
            seq[i] = r.getSequence();
            started[i] = r.hasStartedAt() ? time(r.getStartedAt()) : null;
            sent[i] = r.hasSentAt() ? time(r.getSentAt()) : null;
        }
        return pool.preparedQuery(TOUCH).execute(Tuple.of(ids, seq, started, sent, replicaId)).replaceWithVoid();
    }

    private Uni<Void> upsert(List<Pending> batch) {
        if (batch.isEmpty()) {
            return Uni.createFrom().voidItem();
        }
        int n = batch.size();
        String[] ids = new String[n], addresses = new String[n], versions = new String[n], engines = new String[n],
                labels = new String[n], models = new String[n], gpus = new String[n], health = new String[n],
                messages = new String[n], reporters = new String[n], sealed = new String[n];
        Integer[] maxc = new Integer[n], inFlight = new Integer[n], queue = new Integer[n];
        Long[] seq = new Long[n];
        OffsetDateTime[] started = new OffsetDateTime[n], sent = new OffsetDateTime[n];
        for (int i = 0; i < n; i++) {
            Pending p = batch.get(i);
            HeartbeatRequest r = p.report();
            ids[i] = r.getNodeId();
            addresses[i] = r.getAddress();
            versions[i] = r.getVersion();
            engines[i] = r.getEngine();
            labels[i] = labelsJson(r);
            models[i] = modelsJson(r);
            gpus[i] = gpusJson(r);
            maxc[i] = r.getCapacity().getMaxConcurrency();
            inFlight[i] = r.getCapacity().getInFlight();
            queue[i] = r.getCapacity().getQueueDepth();
            health[i] = healthOf(r);
            messages[i] = r.getHealthMessage();
            seq[i] = r.getSequence();
            started[i] = r.hasStartedAt() ? time(r.getStartedAt()) : null;
            sent[i] = r.hasSentAt() ? time(r.getSentAt()) : null;
            reporters[i] = p.reporter();
            sealed[i] = p.sealedToken();
        }
        Tuple params = Tuple.from(Arrays.asList(ids, addresses, versions, engines, labels, models, gpus, maxc, inFlight, queue,
                health, messages, seq, started, sent, reporters, sealed, replicaId));
        return pool.preparedQuery(UPSERT).execute(params).replaceWithVoid();
    }

    /** What changed since $1 (everything when null): operator decisions, and reports other replicas wrote. */
    private static final String SELECT_STATE = """
            SELECT c.db_now, n.id, n.sequence, floor(extract(epoch FROM n.started_at) * 1000)::bigint AS started_ms,
                   n.admin_state, n.admin_reason, n.admin_changed_at
            FROM (SELECT now() AS db_now) c
            LEFT JOIN inference_nodes n ON $1::timestamptz IS NULL OR n.admin_changed_at > $1
                 OR (n.last_heartbeat_at > $1 AND n.reporter_replica IS DISTINCT FROM $2)""";

    private static final String SELECT_FULL = """
            SELECT id, address, version, engine, health, health_message, admin_state, admin_reason, max_concurrency,
                   in_flight, queue_depth, models, sequence, floor(extract(epoch FROM started_at) * 1000)::bigint AS started_ms,
                   (extract(epoch FROM (now() - last_heartbeat_at)) * 1000)::bigint AS silent_ms, call_token_sealed,
                   registered_by, admin_changed_at
            FROM inference_nodes WHERE id = ANY($1)""";

    /**
     * Re-reads the shared registry: nodes reporting elsewhere, and operator changes. Only rows changed
     * since the last refresh by an operator or by another replica are read (all of them the first
     * time), and full rows only for nodes that are new here or have a newer report from elsewhere; a
     * remote node that stops reporting simply stops appearing and ages out on the local clock.
     */
    public Uni<Void> refresh() {
        return pool.preparedQuery(SELECT_STATE).execute(Tuple.of(refreshedSince, replicaId)).flatMap(rows -> {
            long now = System.nanoTime();
            List<String> stale = new ArrayList<>();
            OffsetDateTime dbNow = null;
            for (Row r : rows) {
                dbNow = r.getOffsetDateTime("db_now");
                String id = r.getString("id");
                if (id == null) {
                    continue;
                }
                NodeSnapshot local = nodes.get(id);
                long startedMs = r.getLong("started_ms") == null ? 0L : r.getLong("started_ms");
                long sequence = r.getLong("sequence");
                if (local == null || local.startedAtMillis() != startedMs || local.sequence() < sequence || sequence == 0) {
                    stale.add(id);
                    continue;
                }
                if (olderAdminDecision(id, r.getOffsetDateTime("admin_changed_at"))) {
                    continue;
                }
                String admin = r.getString("admin_state");
                String reason = r.getString("admin_reason");
                if (!admin.equals(local.adminState()) || !java.util.Objects.equals(reason, local.adminReason())) {
                    // our own report is the newest: keep its figures, take the operator's state
                    NodeSnapshot next = local.withAdmin(admin, reason);
                    nodes.put(id, next);
                    push(next);
                }
            }
            OffsetDateTime since = dbNow == null ? null : dbNow.minusSeconds(2);
            if (stale.isEmpty()) {
                refreshedSince = since;
                return Uni.createFrom().voidItem();
            }
            return pool.preparedQuery(SELECT_FULL).execute(Tuple.of(stale.toArray(String[]::new)))
                    .invoke(full -> {
                        merge(full, now);
                        refreshedSince = since;
                    }).replaceWithVoid();
        });
    }

    private void merge(RowSet<Row> rows, long now) {
        for (Row r : rows) {
            String id = r.getString("id");
            NodeSnapshot local = nodes.get(id);
            long silent = Math.max(0, r.getLong("silent_ms"));
            long heard = now - silent * 1_000_000L;
            long startedMs = r.getLong("started_ms") == null ? 0L : r.getLong("started_ms");
            long sequence = r.getLong("sequence");
            if (local != null && local.startedAtMillis() == startedMs && local.sequence() >= sequence && sequence > 0) {
                continue; // a newer report arrived here meanwhile
            }
            boolean olderAdmin = local != null && olderAdminDecision(id, r.getOffsetDateTime("admin_changed_at"));
            List<NodeSnapshot.Model> models = new ArrayList<>();
            Object json = r.getValue("models");
            if (json instanceof io.vertx.core.json.JsonArray array) {
                for (int i = 0; i < array.size(); i++) {
                    io.vertx.core.json.JsonObject m = array.getJsonObject(i);
                    models.add(new NodeSnapshot.Model(m.getString("name"), m.getString("state"), m.getString("modality")));
                }
            }
            NodeSnapshot next = new NodeSnapshot(id, r.getString("address"), r.getString("version"), r.getString("engine"),
                    r.getString("health"), r.getString("health_message"),
                    olderAdmin ? local.adminState() : r.getString("admin_state"), olderAdmin ? local.adminReason() : r.getString("admin_reason"),
                    r.getInteger("max_concurrency"), r.getInteger("in_flight"), r.getInteger("queue_depth"), List.copyOf(models),
                    sequence, startedMs, local == null ? heard : Math.max(heard, local.heardNanos()), r.getString("call_token_sealed"),
                    r.getString("registered_by"));
            nodes.put(id, next);
            if (local != null && !local.adminState().equals(next.adminState())) {
                push(next);
            }
        }
    }

    /**
     * True when {@code changedAt} (a row read by a refresh) is older than the operator decision this replica
     * already holds for the node; otherwise records it as the newest known.
     */
    private boolean olderAdminDecision(String id, OffsetDateTime changedAt) {
        if (changedAt == null) {
            return false;
        }
        OffsetDateTime known = adminDecidedAt.get(id);
        if (known != null && changedAt.isBefore(known)) {
            return true;
        }
        recordAdminDecision(id, changedAt);
        return false;
    }

    /** Keeps the newest operator decision time known for the node. */
    private void recordAdminDecision(String id, OffsetDateTime decidedAt) {
        adminDecidedAt.merge(id, decidedAt, (a, b) -> a.isAfter(b) ? a : b);
    }

    // ------------------------------------------------------------------ routing

    /** Nodes this replica currently knows (a copy). */
    public List<NodeSnapshot> snapshot() {
        return List.copyOf(nodes.values());
    }

    public Optional<NodeSnapshot> node(String id) {
        return Optional.ofNullable(nodes.get(id));
    }

    /**
     * A node to send one request for {@code model} to: ACTIVE (fresh heartbeat, not draining), with the
     * model READY, not in {@code excluded}, accepted by {@code permitted} (its circuit breaker). HEALTHY
     * nodes before DEGRADED ones; among them the power of two choices on load (in flight / capacity,
     * the larger of the node's report and this replica's own count), ties to the larger headroom.
     */
    public Optional<NodeSnapshot> pick(String model, String pinnedNodeId, Set<String> excluded, Predicate<String> permitted) {
        long now = System.nanoTime();
        long timeout = config.heartbeatTimeout().toMillis();
        List<NodeSnapshot> healthy = new ArrayList<>();
        List<NodeSnapshot> degraded = new ArrayList<>();
        for (NodeSnapshot n : nodes.values()) {
            if (excluded.contains(n.id()) || !eligible(n, model, pinnedNodeId, permitted, now, timeout)) {
                continue;
            }
            ("DEGRADED".equals(n.health()) ? degraded : healthy).add(n);
        }
        List<NodeSnapshot> candidates = healthy.isEmpty() ? degraded : healthy;
        if (candidates.isEmpty()) {
            return Optional.empty();
        }
        if (candidates.size() == 1) {
            return Optional.of(candidates.get(0));
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int a = random.nextInt(candidates.size());
        int b = random.nextInt(candidates.size() - 1);
        if (b >= a) {
            b++;
        }
        return Optional.of(lessLoaded(candidates.get(a), candidates.get(b)));
    }

    /** Could {@link #pick} choose this node for the model (pinned: only that node)? */
    private static boolean eligible(NodeSnapshot n, String model, String pinnedNodeId, Predicate<String> permitted, long now,
                                    long timeout) {
        return (pinnedNodeId == null || pinnedNodeId.equals(n.id())) && NodeSnapshot.ACTIVE.equals(n.state(now, timeout))
                && n.serves(model) && permitted.test(n.id());
    }

    /** For health views: nodes reporting the model at all, and those {@link #pick} could choose now. */
    public record Coverage(int known, int eligible) {
    }

    public Coverage coverage(String model, String pinnedNodeId, Predicate<String> permitted) {
        long now = System.nanoTime();
        long timeout = config.heartbeatTimeout().toMillis();
        int known = 0;
        int eligible = 0;
        for (NodeSnapshot n : nodes.values()) {
            if ((pinnedNodeId == null || pinnedNodeId.equals(n.id())) && n.models().stream().anyMatch(m -> m.name().equals(model))) {
                known++;
                if (eligible(n, model, pinnedNodeId, permitted, now, timeout)) {
                    eligible++;
                }
            }
        }
        return new Coverage(known, eligible);
    }

    private NodeSnapshot lessLoaded(NodeSnapshot a, NodeSnapshot b) {
        int inA = Math.max(a.inFlight(), localInFlight(a.id()));
        int inB = Math.max(b.inFlight(), localInFlight(b.id()));
        double loadA = (double) inA / Math.max(1, a.maxConcurrency());
        double loadB = (double) inB / Math.max(1, b.maxConcurrency());
        if (loadA != loadB) {
            return loadA < loadB ? a : b;
        }
        return (a.maxConcurrency() - inA) >= (b.maxConcurrency() - inB) ? a : b;
    }

    public int localInFlight(String nodeId) {
        AtomicInteger n = localInFlight.get(nodeId);
        return n == null ? 0 : n.get();
    }

    public void localStarted(String nodeId) {
        localInFlight.computeIfAbsent(nodeId, k -> new AtomicInteger()).incrementAndGet();
    }

    public void localEnded(String nodeId) {
        AtomicInteger n = localInFlight.get(nodeId);
        if (n != null) {
            n.decrementAndGet();
        }
    }

    /** The bearer token to call a node with: the shared call token, or the node's own service token. */
    public Optional<String> callToken(NodeSnapshot node) {
        if (config.callToken().filter(s -> !s.isBlank()).isPresent()) {
            return config.callToken();
        }
        String own = callTokens.get(node.id());
        if (own != null) {
            return Optional.of(own);
        }
        String sealed = node.sealedCallToken();
        if (sealed == null || kek.encryption().isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(unsealed.computeIfAbsent(sealed, s -> kek.encryption().get().open(s, AAD + node.id())));
    }

    // ------------------------------------------------------------------ admin

    /** The REST view of a node (REST strings for every enum, snake_case JSON). */
    public record NodeView(String id, String address, String state, String adminState, String adminReason, String health,
                           String healthMessage, String version, String engine, JsonNode labels, JsonNode loadedModels,
                           Map<String, Integer> capacity, JsonNode gpus, OffsetDateTime lastHeartbeatAt,
                           double secondsSinceHeartbeat, OffsetDateTime startedAt, OffsetDateTime registeredAt,
                           int gatewayInFlight) {
    }

    private static final String VIEW_SELECT = """
            SELECT *, extract(epoch FROM (now() - last_heartbeat_at)) AS silent_s FROM inference_nodes""";

    public Uni<List<NodeView>> list() {
        return flush().flatMap(x -> pool.query(VIEW_SELECT + " ORDER BY id").execute()).map(rows -> {
            List<NodeView> out = new ArrayList<>();
            for (Row r : rows) {
                out.add(view(r));
            }
            return out;
        });
    }

    public Uni<NodeView> get(String id) {
        return flush().flatMap(x -> pool.preparedQuery(VIEW_SELECT + " WHERE id = $1").execute(Tuple.of(id)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw notFound(id);
                    }
                    return view(rows.iterator().next());
                });
    }

    /** Operator drain (DRAINING) or enable (ACTIVE); effective on this replica at once, on the others at their next refresh. */
    public Uni<NodeView> setAdminState(String id, String state, String reason) {
        return flush().flatMap(x -> pool.preparedQuery("""
                        UPDATE inference_nodes SET admin_state = $2, admin_reason = $3, admin_changed_at = now(),
                            updated_at = now() WHERE id = $1
                        RETURNING *, extract(epoch FROM (now() - last_heartbeat_at)) AS silent_s""")
                .execute(Tuple.of(id, state, reason)))
                .map(rows -> {
                    if (rows.size() == 0) {
                        throw notFound(id);
                    }
                    NodeSnapshot local = nodes.get(id);
                    OffsetDateTime decidedAt = rows.iterator().next().getOffsetDateTime("admin_changed_at");
                    if (decidedAt != null) {
                        recordAdminDecision(id, decidedAt);
                    }
                    if (local != null) {
                        NodeSnapshot next = local.withAdmin(state, reason);
                        nodes.put(id, next);
                        push(next);
                    }
                    LOG.infof("ScaiInfer node %s set to %s by an operator", id, state);
                    return view(rows.iterator().next());
                });
    }

    private static ApiException notFound(String id) {
        return new ApiException(ErrorCode.NOT_FOUND, "Node not found", Map.of("node_id", id));
    }

    private NodeView view(Row r) {
        String id = r.getString("id");
        double silent = r.getDouble("silent_s") == null ? 0 : r.getDouble("silent_s");
        OffsetDateTime lastHeartbeat = r.getOffsetDateTime("last_heartbeat_at");
        NodeSnapshot local = nodes.get(id);
        double localSilent = local == null ? Double.MAX_VALUE : (System.nanoTime() - local.heardNanos()) / 1e9;
        if (localSilent < silent) {
            // writes are coalesced: a report received here may be newer than the stored liveness
            silent = localSilent;
            lastHeartbeat = OffsetDateTime.now(ZoneOffset.UTC).minusNanos((long) (localSilent * 1e9));
        }
        String health = r.getString("health");
        String admin = r.getString("admin_state");
        Map<String, Integer> capacity = new HashMap<>();
        capacity.put("max_concurrency", r.getInteger("max_concurrency"));
        capacity.put("in_flight", r.getInteger("in_flight"));
        capacity.put("queue_depth", r.getInteger("queue_depth"));
        return new NodeView(id, r.getString("address"),
                NodeSnapshot.state(admin, health, (long) (silent * 1000), config.heartbeatTimeout().toMillis()),
                admin, r.getString("admin_reason"), health, r.getString("health_message"), r.getString("version"),
                r.getString("engine"), json(r.getValue("labels")), json(r.getValue("models")), capacity,
                json(r.getValue("gpus")), lastHeartbeat, Math.round(silent * 1000) / 1000.0,
                r.getOffsetDateTime("started_at"), r.getOffsetDateTime("registered_at"), localInFlight(id));
    }

    private JsonNode json(Object value) {
        if (value == null) {
            return JSON.nullNode();
        }
        try {
            return mapper.readTree(value.toString());
        } catch (Exception e) {
            return JSON.nullNode();
        }
    }

    // ------------------------------------------------------------------ JSON of a report

    private static String modelsJson(HeartbeatRequest r) {
        ArrayNode out = JSON.arrayNode();
        for (LoadedModel m : r.getLoadedModelsList()) {
            ObjectNode o = out.addObject();
            o.put("name", m.getName());
            o.put("state", m.getStateValue() == 0 ? "UNSPECIFIED" : enumName(m.getState().name(), "MODEL_STATE_"));
            o.put("modality", m.getModality().isEmpty() ? "chat" : m.getModality());
            o.put("context_window", m.getContextWindow());
            o.put("max_output_tokens", m.getMaxOutputTokens());
            o.put("quantization", m.getQuantization());
            o.put("in_flight", m.getInFlight());
            ObjectNode c = o.putObject("capabilities");
            c.put("tool_use", m.getCapabilities().getToolUse());
            c.put("streaming", m.getCapabilities().getStreaming());
            c.put("vision", m.getCapabilities().getVision());
            c.put("json_mode", m.getCapabilities().getJsonMode());
            c.put("audio_input", m.getCapabilities().getAudioInput());
            c.put("embeddings", m.getCapabilities().getEmbeddings());
        }
        return out.toString();
    }

    private static String gpusJson(HeartbeatRequest r) {
        ArrayNode out = JSON.arrayNode();
        for (GpuStatus g : r.getGpusList()) {
            out.addObject().put("index", g.getIndex()).put("name", g.getName()).put("uuid", g.getUuid())
                    .put("memory_total_bytes", g.getMemoryTotalBytes()).put("memory_used_bytes", g.getMemoryUsedBytes())
                    .put("utilization", g.getUtilization()).put("temperature_celsius", g.getTemperatureCelsius());
        }
        return out.toString();
    }

    private static String labelsJson(HeartbeatRequest r) {
        ObjectNode out = JSON.objectNode();
        r.getLabelsMap().forEach(out::put);
        return out.toString();
    }

    private static long millis(Timestamp t) {
        return t.getSeconds() * 1000 + t.getNanos() / 1_000_000;
    }

    private static OffsetDateTime time(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos()).atOffset(ZoneOffset.UTC);
    }

    private static Duration duration(java.time.Duration d) {
        return Duration.newBuilder().setSeconds(d.getSeconds()).setNanos(d.getNano()).build();
    }
}
