package ai.scaigrid.lookup.lookup;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.lookup.LookupConfig;
import ai.scaigrid.lookup.credentials.UpstreamCredentials;
import ai.scaigrid.lookup.upstream.Upstream;
import ai.scaigrid.lookup.upstream.UpstreamClient;
import ai.scaigrid.lookup.upstream.UpstreamFailure;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One lookup: choose the upstream credential, GET the upstream list, normalise it to
 * {@code {"data": [...]}} or turn the failure into seed 002's 502 / 412. ScaiGrid's paginated model
 * list is followed through {@code next_cursor} so the Model Picker sees the whole catalogue.
 */
@ApplicationScoped
public class LookupService {
    private static final Logger LOG = Logger.getLogger(LookupService.class);
    public static final String SOURCE_HEADER = "X-Lookup-Credential-Source";

    /** What is looked up, and how its answer is read. */
    public record Target(Upstream upstream, String path, boolean modelList, boolean scoped) {
    }

    private final UpstreamClient client;
    private final UpstreamCredentials credentials;
    private final ObjectMapper mapper;
    private final LookupConfig config;

    public LookupService(UpstreamClient client, UpstreamCredentials credentials, ObjectMapper mapper, LookupConfig config) {
        this.client = client;
        this.credentials = credentials;
        this.mapper = mapper;
        this.config = config;
    }

    /**
     * @param bearerToken the caller's own token as received (forwarded only when it is a ScaiKey JWT)
     */
    public Uni<Response> list(Target target, Caller caller, String bearerToken) {
        return credentials.resolve(caller, bearerToken).flatMap(credential -> {
            if (credential.isEmpty()) {
                return Uni.createFrom().item(LookupErrors.missingCredentials(caller.tenantId(), credentials.order()));
            }
            long started = System.nanoTime();
            return fetch(target, credential.get(), RequestIds.current(), new ArrayList<>(), null, 0)
                    .onFailure(UpstreamFailure.class)
                    .recoverWithItem(e -> LookupErrors.failure((UpstreamFailure) e, config.timeout().toMillis()))
                    .map(response -> withTiming(response, credential.get(), started));
        });
    }

    private Uni<Response> fetch(Target target, UpstreamCredentials.Credential credential, String requestId,
                                List<ObjectNode> collected, String cursor, int page) {
        return client.get(target.upstream(), pathAndQuery(target, cursor), credential.token(), requestId).flatMap(reply -> {
            if (!reply.isSuccess()) {
                return Uni.createFrom().item(
                        LookupErrors.upstreamStatus(target.upstream(), reply, credential, mapper, target.scoped()));
            }
            ListNormalizer.Page read;
            try {
                JsonNode root = mapper.readTree(reply.body().getBytes());
                read = ListNormalizer.read(root, target.modelList());
            } catch (Exception e) {
                LOG.infof("%s answered HTTP %d with an unreadable list (%s)", target.upstream().displayName(), reply.status(),
                        e instanceof ListNormalizer.ShapeException ? e.getMessage() : "not JSON");
                return Uni.createFrom().item(LookupErrors.unreadable(target.upstream(), reply.status()));
            }
            collected.addAll(read.items());
            if (read.nextCursor() != null && target.modelList()) {
                if (page + 1 < config.maxPages()) {
                    return fetch(target, credential, requestId, collected, read.nextCursor(), page + 1);
                }
                LOG.warnf("%s model list has more than %d pages; returning the first %d items",
                        target.upstream().displayName(), config.maxPages(), collected.size());
            }
            return Uni.createFrom().item(Response.ok(Envelope.of(collected)).build());
        });
    }

    private String pathAndQuery(Target target, String cursor) {
        if (!target.modelList()) {
            return target.path();
        }
        StringBuilder q = new StringBuilder(target.path());
        char sep = target.path().contains("?") ? '&' : '?';
        if (config.scaigridPageSize() > 0) {
            q.append(sep).append("limit=").append(config.scaigridPageSize());
            sep = '&';
        }
        if (cursor != null) {
            q.append(sep).append("cursor=").append(URLEncoder.encode(cursor, StandardCharsets.UTF_8));
        }
        return q.toString();
    }

    private static Response withTiming(Response response, UpstreamCredentials.Credential credential, long startedNanos) {
        // Server-Timing: the time spent waiting on the upstream(s), so our own overhead is visible per request
        double millis = (System.nanoTime() - startedNanos) / 1_000_000.0;
        Response.ResponseBuilder builder = Response.fromResponse(response)
                .header("Server-Timing", String.format(Locale.ROOT, "upstream;dur=%.2f", millis));
        builder.header(SOURCE_HEADER, credential.source().key());
        return builder.build();
    }
}
