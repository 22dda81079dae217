package ai.scaigrid.gateway.nodes;

import ai.scaigrid.gateway.identity.ApiKeys;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Uni;
import io.vertx.mutiny.sqlclient.Pool;
import io.vertx.mutiny.sqlclient.Tuple;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.time.Duration;

/**
 * Makes the node-agent's simulated model usable right away in a local run ({@code ./scaigrid up}
 * sets {@code scaigrid.nodes.register-simulated-catalogue=true}): global frontend models
 * {@code scaigrid/sim-1} (chat) and {@code scaigrid/sim-embed-1} (embeddings), each routed to a
 * {@code scaiinfer} backend with model name {@code scaigrid-sim-1} ("any healthy node that has it
 * loaded"; a simulated node model serves both), and {@code scaigrid/sim-reasoning-1} on the node model
 * {@code scaigrid-sim-reasoning-1}, which thinks before it answers. Idempotent and safe with several replicas starting
 * at once: a slug that already exists is not touched.
 */
@ApplicationScoped
public class SimulatedCatalogue {
    private static final Logger LOG = Logger.getLogger(SimulatedCatalogue.class);

    @Inject
    NodesConfig config;

    @Inject
    Pool pool;

    void onStart(@Observes @Priority(5000) StartupEvent event) {
        if (config.registerSimulatedCatalogue()) {
            ensure().await().atMost(Duration.ofSeconds(30));
        }
    }

    /** True when it created any of the models now. */
    public Uni<Boolean> ensure() {
        return ensure(config.simulatedSlug(), config.simulatedModel(), "chat", "ScaiGrid simulated model", 8192, 2048,
                "{\"streaming\": true, \"tool_use\": true}",
                "Deterministic simulated model served by the local node-agent (for demos, tests and benchmarks)")
                .flatMap(chat -> ensure(config.simulatedEmbeddingSlug(), config.simulatedModel(), "embedding",
                        "ScaiGrid simulated embeddings", 8192, null, "{\"embeddings\": true}",
                        "Deterministic unit vectors from the local node-agent's simulated model (for demos and tests)")
                        .map(embed -> chat || embed))
                .flatMap(any -> ensure(config.simulatedReasoningSlug(), config.simulatedReasoningModel(), "chat",
                        "ScaiGrid simulated reasoning model", 8192, 2048, "{\"streaming\": true, \"tool_use\": true, \"reasoning\": true}",
                        "Deterministic simulated model that thinks before it answers (reasoning_content), served by the local "
                                + "node-agent (for demos and tests)")
                        .map(reasoning -> any || reasoning));
    }

    private Uni<Boolean> ensure(String slug, String model, String modality, String displayName, int contextWindow, Integer maxOutput,
                                String capabilities, String description) {
        return pool.withTransaction(conn -> conn.preparedQuery("""
                        INSERT INTO frontend_models (id, slug, display_name, description, modality, context_window,
                            max_output_tokens, capabilities, owner_scope)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'global')
                        ON CONFLICT (slug) DO NOTHING RETURNING id""")
                .execute(Tuple.tuple(java.util.List.of(ApiKeys.newId("fm"), slug, displayName, description, modality,
                        contextWindow)).addInteger(maxOutput)
                        // a JsonObject: a String bound to a jsonb column is stored as a JSON string, not as the object
                        .addValue(new io.vertx.core.json.JsonObject(capabilities)))
                .flatMap(rows -> {
                    if (rows.size() == 0) {
                        return Uni.createFrom().item(false);
                    }
                    String frontendId = rows.iterator().next().getString("id");
                    String backendId = ApiKeys.newId("bm");
                    return conn.preparedQuery("""
                                    INSERT INTO backend_models (id, name, provider_type, model_name, owner_scope)
                                    VALUES ($1, $2, 'scaiinfer', $3, 'global')""")
                            .execute(Tuple.of(backendId, "ScaiInfer " + model + " (" + modality + ")", model))
                            .flatMap(x -> conn.preparedQuery("""
                                            INSERT INTO model_links (frontend_model_id, backend_model_id, priority, weight)
                                            VALUES ($1, $2, 0, 100)""")
                                    .execute(Tuple.of(frontendId, backendId)))
                            .replaceWith(true);
                }))
                .invoke(created -> {
                    if (created) {
                        LOG.infof("created the model %s on ScaiInfer nodes serving %s", slug, model);
                    }
                });
    }
}
