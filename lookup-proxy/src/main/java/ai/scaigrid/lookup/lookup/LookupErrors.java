package ai.scaigrid.lookup.lookup;

import ai.scaigrid.commons.api.ErrorEnvelope;
import ai.scaigrid.commons.error.Sanitizer;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.lookup.credentials.UpstreamCredentials;
import ai.scaigrid.lookup.upstream.Upstream;
import ai.scaigrid.lookup.upstream.UpstreamFailure;
import ai.scaigrid.lookup.upstream.UpstreamReply;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

import java.util.List;
import java.util.regex.Pattern;

/**
 * The error bodies of seed 002 for the lookup endpoints: {@code {"detail": {error, message, fix[, status,
 * code]}}}, plus {@code meta.request_id} like every other error here. Only these fields leave the proxy:
 * the upstream's own code and message are kept when they are short and look safe, everything else in
 * an upstream body is dropped.
 */
public final class LookupErrors {
    public static final String CREDENTIALS_PATH = "/v1/tenants/me/scaigrid_credentials";
    private static final Pattern SAFE_CODE = Pattern.compile("[A-Za-z0-9_.:\\-]{1,64}");
    private static final Pattern CONTROL = Pattern.compile("[\\p{Cntrl}\\s]+");
    /** Credentials an upstream might echo back: API keys and JWTs never reach the browser through an error. */
    private static final Pattern CREDENTIAL = Pattern.compile("sgk_[A-Za-z0-9]+|eyJ[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-]*){0,2}");
    private static final int MAX_MESSAGE = 200;

    @JsonPropertyOrder({"error", "message", "fix", "status", "code"})
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Detail(String error, String message, String fix, Integer status, String code) {
    }

    @JsonPropertyOrder({"detail", "meta"})
    public record Body(Detail detail, ErrorEnvelope.Meta meta) {
    }

    /** What an upstream said about its error, if anything safe. */
    record Said(String code, String message) {
        String text() {
            if (code != null && message != null) {
                return code + ": " + message;
            }
            return message != null ? message : code;
        }
    }

    private LookupErrors() {
    }

    /** 412: no source in the configured order had a credential for this caller. */
    public static Response missingCredentials(String tenantId, List<UpstreamCredentials.Source> order) {
        String tried = String.join(", ", order.stream().map(UpstreamCredentials.Source::key).toList());
        return response(412, new Detail("missing_credentials",
                "No upstream credentials: no ScaiKey JWT from the caller and no ScaiGrid API key stored for tenant "
                        + (tenantId == null ? "(none)" : tenantId) + " (sources tried: " + tried + ")",
                "A tenant admin stores the tenant's ScaiGrid API key with POST " + CREDENTIALS_PATH
                        + " {\"api_key\": \"sgk_...\"}, or sign in with ScaiKey so your session is forwarded.",
                null, null));
    }

    /** 502 for an upstream that answered with a non-2xx status. */
    public static Response upstreamStatus(Upstream upstream, UpstreamReply reply, UpstreamCredentials.Credential credential,
                                          ObjectMapper mapper, boolean scoped) {
        Said said = said(reply, mapper, credential.token());
        int status = reply.status();
        if (status == 401 || status == 403) {
            String message = said.text() != null ? said.text()
                    : upstream.displayName() + (status == 401 ? " rejected the credentials" : " denied access") + " (HTTP " + status + ")";
            return response(502, new Detail(upstream.authError(), message, authFix(upstream, status, credential.source()), null, null));
        }
        String message = said.text() != null ? said.text() : upstream.displayName() + " answered HTTP " + status;
        String fix;
        if (status == 404 && scoped) {
            fix = "Check the scope id: list the scopes with GET /api/v1/scaiqueue/scopes.";
        } else if (status == 429) {
            fix = upstream.displayName() + " is rate-limiting this tenant; retry in a moment.";
        } else if (status >= 500) {
            fix = "Retry later; if it persists, check that " + upstream.displayName() + " is healthy.";
        } else {
            fix = "Check that scaigrid.lookup." + upstream.key() + "-url points at the " + upstream.displayName()
                    + " API and that this proxy's paths match its version.";
        }
        return response(502, new Detail(upstream.apiError(), message, fix, status, said.code()));
    }

    /** 502 for a 2xx body that is not one of the list shapes (or not JSON). */
    public static Response unreadable(Upstream upstream, int status) {
        return response(502, new Detail(upstream.apiError(),
                upstream.displayName() + " answered with a body the proxy cannot read as a list",
                "Check that scaigrid.lookup." + upstream.key() + "-url points at the " + upstream.displayName() + " API.",
                status, "UPSTREAM_SHAPE_MISMATCH"));
    }

    /** 502 for a call that got no usable answer at all. */
    public static Response failure(UpstreamFailure failure, long timeoutMillis) {
        Upstream u = failure.upstream();
        String setting = "scaigrid.lookup." + u.key() + "-url (SCAIGRID_LOOKUP_" + u.key().toUpperCase() + "_URL)";
        Detail detail = switch (failure.kind()) {
            case NOT_CONFIGURED -> new Detail(u.apiError(), u.displayName() + " is not configured on this proxy",
                    "An operator sets " + setting + ".", null, failure.kind().code());
            case UNREACHABLE -> new Detail(u.apiError(), u.displayName() + " could not be reached",
                    "Check that " + u.displayName() + " is running and that " + setting + " points at it.", null,
                    failure.kind().code());
            case TIMEOUT -> new Detail(u.apiError(), u.displayName() + " did not answer within " + timeoutMillis + " ms",
                    u.displayName() + " is slow or overloaded; retry in a moment.", null, failure.kind().code());
            case CIRCUIT_OPEN -> new Detail(u.apiError(), u.displayName()
                    + " has been failing; calls to it are paused for a few seconds",
                    "Retry in a few seconds; if it persists, check that " + u.displayName() + " is healthy.", null,
                    failure.kind().code());
            case TOO_LARGE -> new Detail(u.apiError(), u.displayName() + " answered with a body too large to relay",
                    "An operator raises scaigrid.lookup.max-response-bytes if this list is legitimately that large.", null,
                    failure.kind().code());
        };
        return response(502, detail);
    }

    private static String authFix(Upstream upstream, int status, UpstreamCredentials.Source source) {
        if (status == 403) {
            return "Caller needs the `" + upstream.viewPermission() + "` permission on this tenant.";
        }
        return switch (source) {
            case JWT -> "Sign in again: " + upstream.displayName() + " did not accept your ScaiKey session.";
            case TENANT_KEY -> "The tenant's stored ScaiGrid API key was rejected; a tenant admin replaces it with POST "
                    + CREDENTIALS_PATH + ".";
            case ENV -> "The SCAIGRID_API_KEY fallback was rejected; store the tenant's own key with POST "
                    + CREDENTIALS_PATH + ".";
        };
    }

    static Said said(UpstreamReply reply, ObjectMapper mapper, String credential) {
        JsonNode root;
        try {
            root = reply.body().length() == 0 ? null : mapper.readTree(reply.body().getBytes());
        } catch (Exception e) {
            return new Said(null, null);
        }
        if (root == null || !root.isObject()) {
            return new Said(null, null);
        }
        String code = null;
        String message = null;
        JsonNode error = root.get("error");
        if (error != null && error.isObject()) {
            code = text(error.get("code"));
            if (code == null) {
                code = text(error.get("type"));
            }
            message = text(error.get("message"));
        } else if (error != null && error.isTextual()) {
            code = text(error);
        }
        JsonNode detail = root.get("detail");
        if (detail != null && detail.isObject()) {
            code = code != null ? code : firstText(detail.get("error"), detail.get("code"));
            message = message != null ? message : text(detail.get("message"));
        } else if (detail != null && detail.isTextual() && message == null) {
            message = text(detail);
        }
        code = code != null ? code : text(root.get("code"));
        message = message != null ? message : text(root.get("message"));
        boolean safeCode = code != null && SAFE_CODE.matcher(code).matches() && !CREDENTIAL.matcher(code).find()
                && (credential == null || credential.isEmpty() || !code.contains(credential));
        return new Said(safeCode ? code : null, cleanMessage(message, credential));
    }

    private static String firstText(JsonNode a, JsonNode b) {
        String s = text(a);
        return s != null ? s : text(b);
    }

    private static String text(JsonNode node) {
        return node != null && node.isTextual() && !node.asText().isBlank() ? node.asText() : null;
    }

    private static String cleanMessage(String message, String credential) {
        if (message == null) {
            return null;
        }
        if (credential != null && !credential.isEmpty()) {
            message = message.replace(credential, "[redacted]");
        }
        String flat = CREDENTIAL.matcher(CONTROL.matcher(message).replaceAll(" ")).replaceAll("[redacted]").trim();
        if (flat.isEmpty() || flat.length() > MAX_MESSAGE || Sanitizer.looksInternal(flat)) {
            return null;
        }
        return flat;
    }

    private static Response response(int status, Detail detail) {
        String requestId = RequestIds.currentOrGenerate();
        return Response.status(status)
                .type(MediaType.APPLICATION_JSON_TYPE)
                .header(RequestIds.HTTP_HEADER, requestId)
                .entity(new Body(detail, new ErrorEnvelope.Meta(requestId)))
                .build();
    }
}
