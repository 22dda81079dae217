package ai.scaigrid.gateway.inference;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.security.Caller;
import ai.scaigrid.commons.vertx.Contexts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelcontextprotocol.client.McpAsyncClient;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.transport.HttpClientSseClientTransport;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.json.schema.jackson2.DefaultJsonSchemaValidator;
import io.modelcontextprotocol.spec.McpClientTransport;
import io.modelcontextprotocol.spec.McpSchema;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import reactor.core.publisher.Mono;

import java.net.InetAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.regex.Pattern;

/**
 * Remote MCP servers as tools of a Responses request ({@code {"type": "mcp", "server_label", "server_url", ...}}), run
 * by the gateway as OpenAI runs them: the server's tools are listed ({@code mcp_list_tools}) and offered to the model
 * as functions; a call the model makes to one is made by the gateway ({@code mcp_call}, with its output or error) and
 * the model asked again with the result, until it answers without calling one. A call that needs the user's approval
 * ({@code require_approval}, "always" unless said otherwise, as at OpenAI) ends the response with an
 * {@code mcp_approval_request}; an {@code mcp_approval_response} in the next request's input runs (or declines) it.
 * Function tools of the same request still go back to the client. Anthropic's MCP connector ({@code mcp_servers} of
 * a Messages request) runs the same way, without approvals ({@link #anthropicServer}).
 *
 * <p>Each model call is one admitted chat request (limits, budget, routing, failover and one usage record each, all
 * under the response's request id), streamed from the upstream whether or not the client streams. The MCP client is
 * the official MCP Java SDK's (Streamable HTTP, or the older HTTP+SSE transport for a URL ending in {@code /sse}),
 * one session per request. Servers on private, loopback or link-local addresses are refused unless
 * {@code scaigrid.mcp.private-networks} is on: a caller must not reach the gateway's own network through it.
 */
@ApplicationScoped
public class HostedMcp {
    private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(HostedMcp.class);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    /** For the SDK's schema maps as JSON trees (thread-safe once configured). */
    private static final ObjectMapper PLAIN = new ObjectMapper();
    private static final Pattern LABEL = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    /** What a chat function may be named (OpenAI's rule); an MCP tool whose name breaks it is renamed for the model. */
    private static final Pattern FUNCTION_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    /** Headers the HTTP client sets itself (and refuses to be given), and those the MCP transport owns. */
    private static final Set<String> RESERVED_HEADERS = Set.of("connection", "content-length", "expect", "host", "upgrade",
            "content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id");
    /** How many MCP servers one request may name: each is a session (and an HTTP client) for the request's time. */
    static final int MAX_SERVERS = 10;
    private static final com.fasterxml.jackson.core.type.TypeReference<Map<String, Object>> STRING_MAP =
            new com.fasterxml.jackson.core.type.TypeReference<>() { };
    /** Marks a stream item that is not a chat chunk but a step of the hosted run, for {@link ResponsesApi.Stream}. */
    static final String CONTROL = "scaigrid_hosted";

    @Inject
    InferencePipeline pipeline;

    @Inject
    StoredResponses stored;

    @Inject
    ObjectMapper mapper;

    @ConfigProperty(name = "scaigrid.mcp.private-networks", defaultValue = "false")
    boolean privateNetworks;

    @ConfigProperty(name = "scaigrid.mcp.timeout", defaultValue = "60s")
    Duration timeout;

    @ConfigProperty(name = "scaigrid.mcp.max-tool-calls", defaultValue = "20")
    int maxToolCalls;

    /** The SDK's JSON over Quarkus's mapper, and its schema validator (which caches schemas): one each for every session. */
    private JacksonMcpJsonMapper mcpJson;
    private DefaultJsonSchemaValidator schemaValidator;

    @jakarta.annotation.PostConstruct
    void init() {
        mcpJson = new JacksonMcpJsonMapper(mapper);
        schemaValidator = new DefaultJsonSchemaValidator(mapper);
    }

    // ------------------------------------------------------------------ the request's tools

    /** One MCP server of a request's tools; {@code field} names it in errors ({@code tools[2]}). */
    record Server(String field, String label, URI url, Map<String, String> headers, Set<String> allowed, boolean readOnly,
                  Set<String> never, Set<String> always, boolean approveByDefault, Set<String> disabled) {

        boolean needsApproval(String tool) {
            if (never.contains(tool)) {
                return false;
            }
            return always.contains(tool) || approveByDefault;
        }

        boolean offers(McpSchema.Tool tool) {
            if (allowed != null && !allowed.contains(tool.name()) || disabled.contains(tool.name())) {
                return false;
            }
            return !readOnly || tool.annotations() != null && Boolean.TRUE.equals(tool.annotations().readOnlyHint());
        }
    }

    /** An {@code mcp} tool of a Responses request, checked (a 400 naming the field for what is wrong). */
    static Server server(JsonNode t, String field) {
        if (t.hasNonNull("connector_id")) {
            throw ApiException.validation(field + ".connector_id", "connectors run at OpenAI only: give the server's server_url");
        }
        String label = t.path("server_label").asText("");
        if (!LABEL.matcher(label).matches()) {
            throw ApiException.validation(field + ".server_label", "server_label is required: 1-64 letters, digits, _ or -");
        }
        URI url = url(t.path("server_url").asText(""), field + ".server_url");
        Map<String, String> headers = new LinkedHashMap<>();
        JsonNode given = t.get("headers");
        if (given != null && !given.isNull()) {
            if (!given.isObject()) {
                throw ApiException.validation(field + ".headers", "headers must be an object of header names and string values");
            }
            for (var it = given.fields(); it.hasNext(); ) {
                var h = it.next();
                if (!h.getValue().isTextual() || !h.getKey().matches("[A-Za-z0-9!#$%&'*+.^_`|~-]+")
                        || h.getValue().asText().matches("(?s).*[\\r\\n].*")) {
                    throw ApiException.validation(field + ".headers." + h.getKey(),
                            "a header needs a valid name and a one-line string value");
                }
                if (RESERVED_HEADERS.contains(h.getKey().toLowerCase(java.util.Locale.ROOT))) {
                    throw ApiException.validation(field + ".headers." + h.getKey(), "this header is the HTTP client's own to set");
                }
                headers.put(h.getKey(), h.getValue().asText());
            }
        }
        bearer(t.get("authorization"), field + ".authorization", headers);
        Set<String> allowed = null;
        boolean readOnly = false;
        JsonNode allowedTools = t.get("allowed_tools");
        if (allowedTools != null && !allowedTools.isNull()) {
            JsonNode names = allowedTools.isObject() ? allowedTools.get("tool_names") : allowedTools;
            if (allowedTools.isObject()) {
                readOnly = allowedTools.path("read_only").asBoolean(false);
            }
            if (names != null && !names.isNull()) {
                allowed = names(names, field + ".allowed_tools");
            } else if (!allowedTools.isObject()) {
                throw ApiException.validation(field + ".allowed_tools",
                        "allowed_tools must be a list of tool names or {\"tool_names\": [...]}");
            }
        }
        Set<String> never = Set.of();
        Set<String> always = Set.of();
        boolean byDefault = true;
        JsonNode approval = t.get("require_approval");
        if (approval != null && !approval.isNull()) {
            if (approval.isTextual() && ("always".equals(approval.asText()) || "never".equals(approval.asText()))) {
                byDefault = "always".equals(approval.asText());
            } else if (approval.isObject()) {
                if (approval.has("never")) {
                    never = names(approval.path("never").path("tool_names"), field + ".require_approval.never.tool_names");
                }
                if (approval.has("always")) {
                    always = names(approval.path("always").path("tool_names"), field + ".require_approval.always.tool_names");
                }
            } else {
                throw ApiException.validation(field + ".require_approval",
                        "require_approval must be always, never or {\"never\": {\"tool_names\": [...]}, \"always\": {...}}");
            }
        }
        return new Server(field, label, url, Map.copyOf(headers), allowed, readOnly, never, always, byDefault, Set.of());
    }

    /**
     * A server of an Anthropic Messages request ({@code mcp_servers[i]}: {@code type} url, {@code url}, {@code name},
     * {@code authorization_token}, {@code tool_configuration}), its tools narrowed by an {@code mcp_toolset} tool
     * naming it ({@code toolset}, or null). Anthropic's connector asks no approval: every call is made.
     */
    static Server anthropicServer(JsonNode s, String field, JsonNode toolset) {
        if (!s.isObject() || !"url".equals(s.path("type").asText())) {
            throw ApiException.validation(field + ".type", field + ".type must be url");
        }
        String name = s.path("name").asText("");
        if (!LABEL.matcher(name).matches()) {
            throw ApiException.validation(field + ".name", field + ".name is required: 1-64 letters, digits, _ or -");
        }
        URI url = url(s.path("url").asText(""), field + ".url");
        Map<String, String> headers = new LinkedHashMap<>();
        bearer(s.get("authorization_token"), field + ".authorization_token", headers);
        Set<String> allowed = null;
        JsonNode configuration = s.path("tool_configuration");
        if (configuration.has("allowed_tools") && !configuration.get("allowed_tools").isNull()) {
            allowed = names(configuration.get("allowed_tools"), field + ".tool_configuration.allowed_tools");
        }
        if (configuration.has("enabled") && !configuration.path("enabled").asBoolean(true)) {
            allowed = Set.of();
        }
        if (toolset != null) {
            // mcp_toolset: default_config.enabled for every tool, configs.<tool>.enabled for one
            boolean byDefault = toolset.path("default_config").path("enabled").asBoolean(true);
            Set<String> enabled = new LinkedHashSet<>();
            Set<String> disabled = new LinkedHashSet<>();
            toolset.path("configs").fields().forEachRemaining(c -> (c.getValue().path("enabled").asBoolean(true) ? enabled : disabled)
                    .add(c.getKey()));
            if (!byDefault) {
                allowed = allowed == null ? enabled : intersection(allowed, enabled);
            }
            return new Server(field, name, url, Map.copyOf(headers), allowed, false, Set.of(), Set.of(), false, disabled);
        }
        return new Server(field, name, url, Map.copyOf(headers), allowed, false, Set.of(), Set.of(), false, Set.of());
    }

    private static Set<String> intersection(Set<String> a, Set<String> b) {
        Set<String> out = new LinkedHashSet<>(a);
        out.retainAll(b);
        return out;
    }

    /** An MCP server's URL: http(s), with a host and no credentials in it. */
    private static URI url(String text, String field) {
        URI url;
        try {
            url = new URI(text);
        } catch (java.net.URISyntaxException e) {
            url = null;
        }
        if (url == null || url.getHost() == null || !("https".equalsIgnoreCase(url.getScheme()) || "http".equalsIgnoreCase(url.getScheme()))
                || url.getRawUserInfo() != null) {
            throw ApiException.validation(field, field + " must be the MCP server's http(s) URL");
        }
        return url;
    }

    /** A bearer token for the server, as its {@code Authorization} header. */
    private static void bearer(JsonNode token, String field, Map<String, String> headers) {
        if (token != null && !token.isNull()) {
            if (!token.isTextual() || token.asText().matches("(?s).*[\\r\\n].*")) {
                throw ApiException.validation(field, "the token must be a string");
            }
            headers.put("Authorization", "Bearer " + token.asText());
        }
    }

    private static Set<String> names(JsonNode names, String field) {
        if (!names.isArray()) {
            throw ApiException.validation(field, "must be a list of tool names");
        }
        Set<String> out = new LinkedHashSet<>();
        for (JsonNode n : names) {
            if (!n.isTextual()) {
                throw ApiException.validation(field, "must be a list of tool names");
            }
            out.add(n.asText());
        }
        return out;
    }

    // ------------------------------------------------------------------ a request's run

    /** How the model's call of a function is handled. */
    enum Kind { CLIENT, CALL, APPROVAL }

    /** A tool of an MCP server as the model sees it. */
    record Tool(String chatName, Session session, McpSchema.Tool tool) {
    }

    /** One server's open session (the SDK's client) and the tools it offers this request. */
    static final class Session {
        final Server server;
        final McpAsyncClient client;
        final List<McpSchema.Tool> tools = new ArrayList<>();
        /** Its tools came from an earlier list item of the conversation: no new one is output. */
        boolean reused;

        Session(Server server, McpAsyncClient client) {
            this.server = server;
            this.client = client;
        }
    }

    /**
     * One Responses request's hosted run: its servers' sessions and tools, the output items made before the model
     * is first asked (tool lists, approved calls), the chat messages the run has added to the conversation, the
     * summed usage of its model calls and how many MCP calls it has made.
     */
    static final class Run {
        /** The sessions, in the request's order of servers. */
        final List<Session> sessions = new ArrayList<>();
        /** Every session opened so far, in whatever order they opened: what {@link #close} ends. */
        final List<Session> opened = java.util.Collections.synchronizedList(new ArrayList<>());
        final Map<String, Tool> tools = new LinkedHashMap<>();
        final ArrayNode startItems = NODES.arrayNode();
        /** The messages this response adds to the conversation: what a later turn replays. */
        final ArrayNode produced = NODES.arrayNode();
        ObjectNode chat;
        /** How many of {@link #produced} are already in {@link #chat} (those of approved calls). */
        int inChat;
        int calls;
        int maxCalls;
        int round;
        /** Whether the client asked for a stream (the model calls are streamed either way). */
        boolean clientStreams;
        final long[] usage = new long[5]; // prompt, completion, reasoning, cached, cache-written
        String model;

        Kind kind(String chatName) {
            Tool t = tools.get(chatName);
            if (t == null) {
                return Kind.CLIENT;
            }
            return t.session.server.needsApproval(t.tool.name()) ? Kind.APPROVAL : Kind.CALL;
        }

        Tool tool(String chatName) {
            return tools.get(chatName);
        }

        ObjectNode usageNode() {
            ObjectNode u = NODES.objectNode().put("prompt_tokens", usage[0]).put("completion_tokens", usage[1])
                    .put("total_tokens", usage[0] + usage[1]);
            if (usage[3] > 0 || usage[4] > 0) {
                u.putObject("prompt_tokens_details").put("cached_tokens", usage[3]).put("cache_write_tokens", usage[4]);
            }
            if (usage[2] > 0) {
                u.putObject("completion_tokens_details").put("reasoning_tokens", usage[2]);
            }
            return u;
        }

        void addUsage(JsonNode u) {
            usage[0] += u.path("prompt_tokens").asLong();
            usage[1] += u.path("completion_tokens").asLong();
            usage[2] += u.path("completion_tokens_details").path("reasoning_tokens").asLong();
            usage[3] += u.path("prompt_tokens_details").path("cached_tokens").asLong();
            usage[4] += u.path("prompt_tokens_details").path("cache_write_tokens").asLong();
        }

        private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

        /** Ends the sessions (once; whichever way the request ended). */
        void close() {
            if (!closed.compareAndSet(false, true)) {
                return;
            }
            synchronized (opened) {
                for (Session s : opened) {
                    s.client.closeGracefully().onErrorResume(e -> Mono.empty()).subscribe();
                }
            }
        }
    }

    /**
     * Before the request is admitted: opens a session with each server and lists its tools (a 424 naming the server
     * when one cannot be used), runs or declines the calls this request's {@code mcp_approval_response} items answer,
     * and returns the chat request with the servers' tools among its functions. The run is kept on the turn.
     */
    Uni<ObjectNode> prepare(Caller caller, ResponsesApi.Turn turn, ObjectNode chat) {
        Executor back = contextExecutor();
        return stored.listedTools(caller, turn).emitOn(back)
                .flatMap(known -> start(turn.mcpServers, chat, turn.maxToolCalls, known))
                .flatMap(run -> {
                    turn.hosted = run;
                    if (turn.mcpChoice != null) {
                        chooseTool(run, chat, turn.mcpChoice);
                    }
                    return approvals(caller, turn, run, chat).emitOn(back)
                            .onFailure().invoke(e -> run.close());
                })
                .replaceWith(chat);
    }

    /**
     * Opens a session with each server and lists its tools (a 424 naming the server when one cannot be used), and
     * puts them among the chat request's functions; the model calls of the run are streamed from the backend.
     */
    Uni<Run> start(List<Server> servers, ObjectNode chat, Integer maxCalls) {
        return start(servers, chat, maxCalls, Map.of());
    }

    /**
     * As {@link #start(List, ObjectNode, Integer)}, but a server whose tools are {@code known} (an earlier
     * {@code mcp_list_tools} of the conversation, by label) is not asked for them again and gets no new list item.
     */
    Uni<Run> start(List<Server> servers, ObjectNode chat, Integer maxCalls, Map<String, JsonNode> known) {
        Run run = new Run();
        run.model = chat.path("model").asText();
        run.maxCalls = maxCalls == null ? maxToolCalls : Math.min(maxCalls, maxToolCalls);
        run.clientStreams = chat.path("stream").asBoolean(false);
        Executor back = contextExecutor();
        List<Uni<Session>> opening = new ArrayList<>();
        for (Server s : servers) {
            // each session is the run's to close as soon as it is open: another server may yet fail
            opening.add(open(s, known.get(s.label())).invoke(run.opened::add).emitOn(back));
        }
        Uni<List<Session>> opened = opening.isEmpty() ? Uni.createFrom().item(List.of())
                : Uni.join().all(opening).andCollectFailures().onFailure().transform(e -> firstFailure(e));
        return opened.map(sessions -> {
            run.sessions.addAll(sessions);
            for (Session s : sessions) {
                if (!s.reused) {
                    run.startItems.add(listToolsItem(s));
                }
            }
            offer(run, chat);
            chat.put("stream", true);
            chat.putObject("stream_options").put("include_usage", true);
            run.chat = chat;
            return run;
        }).onFailure().invoke(e -> run.close());
    }

    private static Throwable firstFailure(Throwable e) {
        return e instanceof io.smallrye.mutiny.CompositeException c && !c.getCauses().isEmpty() ? c.getCauses().get(0) : e;
    }

    /** The servers' tools among the chat request's functions, each named for the model ({@link Run#tools}). */
    private static void offer(Run run, ObjectNode chat) {
        Set<String> taken = new HashSet<>();
        for (JsonNode f : chat.path("tools")) {
            taken.add(f.path("function").path("name").asText());
        }
        Map<String, Integer> seen = new LinkedHashMap<>();
        for (Session s : run.sessions) {
            for (McpSchema.Tool t : s.tools) {
                seen.merge(t.name(), 1, Integer::sum);
            }
        }
        ArrayNode functions = chat.has("tools") ? (ArrayNode) chat.get("tools") : chat.putArray("tools");
        for (Session s : run.sessions) {
            for (McpSchema.Tool t : s.tools) {
                // a name two servers share, or one a function tool has, is prefixed with its server's label
                String name = seen.get(t.name()) > 1 || taken.contains(t.name()) ? s.server.label() + "__" + t.name() : t.name();
                if (!FUNCTION_NAME.matcher(name).matches()) {
                    name = name.replaceAll("[^A-Za-z0-9_-]", "_");
                    name = name.length() > 64 ? name.substring(0, 64) : name;
                }
                if (!taken.add(name)) {
                    continue; // two tools that still collide: the model gets the first
                }
                run.tools.put(name, new Tool(name, s, t));
                ObjectNode function = functions.addObject().put("type", "function").putObject("function").put("name", name);
                if (t.description() != null) {
                    function.put("description", t.description());
                }
                function.set("parameters", t.inputSchema() == null ? NODES.objectNode().put("type", "object")
                        : PLAIN.valueToTree(t.inputSchema()));
            }
        }
    }

    /**
     * {@code tool_choice: {"type": "mcp", "server_label", "name"}}: the model must call that tool (chat's function
     * choice under the name the model sees); without a name, it must call a tool (chat's {@code required}).
     */
    private static void chooseTool(Run run, ObjectNode chat, ResponsesApi.McpChoice choice) {
        if (choice.name() == null) {
            chat.put("tool_choice", "required");
            return;
        }
        Tool tool = run.tools.values().stream().filter(t -> t.session.server.label().equals(choice.label())
                && t.tool.name().equals(choice.name())).findFirst().orElseThrow(() -> ApiException.validation("tool_choice.name",
                "MCP server '" + choice.label() + "' offers no tool '" + choice.name() + "' to this request"));
        chat.putObject("tool_choice").put("type", "function").putObject("function").put("name", tool.chatName());
    }

    /** The calls this request approves or declines: run (or declined) now, before the model is asked. */
    private Uni<Void> approvals(Caller caller, ResponsesApi.Turn turn, Run run, ObjectNode chat) {
        Uni<Void> chain = Uni.createFrom().voidItem();
        for (ResponsesApi.Approval a : turn.approvals) {
            chain = chain.flatMap(v -> stored.approvalRequest(caller, turn, a.requestId()).flatMap(request -> {
                if (request == null) {
                    throw ApiException.validation(a.field() + ".approval_request_id", "No mcp_approval_request with id '"
                            + a.requestId() + "' in this conversation");
                }
                String label = request.path("server_label").asText();
                Session session = run.sessions.stream().filter(s -> s.server.label().equals(label)).findFirst().orElse(null);
                if (session == null) {
                    throw ApiException.validation(a.field() + ".approval_request_id", "The approved call is to MCP server '" + label
                            + "', which is not among this request's tools");
                }
                String name = request.path("name").asText();
                String arguments = request.path("arguments").asText("{}");
                String chatName = run.tools.values().stream().filter(t -> t.session == session && t.tool.name().equals(name))
                        .map(Tool::chatName).findFirst().orElse(label + "__" + name);
                ObjectNode asked = NODES.objectNode().put("role", "assistant").putNull("content");
                asked.putArray("tool_calls").addObject().put("id", a.requestId()).put("type", "function").putObject("function")
                        .put("name", chatName).put("arguments", arguments);
                if (!a.approve()) {
                    run.produced.add(asked);
                    run.produced.add(toolMessage(a.requestId(), "The user declined this call of " + name
                            + (a.reason() == null ? "." : ": " + a.reason())));
                    return Uni.createFrom().voidItem();
                }
                run.calls++;
                return call(session, name, arguments).map(outcome -> {
                    ObjectNode item = mcpCallItem("mcp_" + ResponsesApi.hex(), label, name, arguments);
                    item.put("approval_request_id", a.requestId());
                    outcome.into(item);
                    run.startItems.add(item);
                    run.produced.add(asked);
                    run.produced.add(toolMessage(a.requestId(), outcome.forModel()));
                    return null;
                });
            }));
        }
        return chain.invoke(() -> {
            ArrayNode messages = (ArrayNode) chat.get("messages");
            run.produced.forEach(m -> messages.add(m.deepCopy()));
            run.inChat = run.produced.size();
        });
    }

    static ObjectNode toolMessage(String callId, String content) {
        return NODES.objectNode().put("role", "tool").put("tool_call_id", callId).put("content", content);
    }

    static ObjectNode mcpCallItem(String id, String label, String name, String arguments) {
        ObjectNode item = NODES.objectNode().put("id", id).put("type", "mcp_call").put("server_label", label).put("name", name)
                .put("arguments", arguments);
        item.putNull("approval_request_id");
        item.putNull("output");
        item.putNull("error");
        item.put("status", "in_progress");
        return item;
    }

    private static ObjectNode listToolsItem(Session s) {
        ObjectNode item = NODES.objectNode().put("id", "mcpl_" + ResponsesApi.hex()).put("type", "mcp_list_tools")
                .put("server_label", s.server.label());
        ArrayNode tools = item.putArray("tools");
        for (McpSchema.Tool t : s.tools) {
            ObjectNode tool = tools.addObject().put("name", t.name());
            if (t.description() != null) {
                tool.put("description", t.description());
            }
            tool.set("input_schema", t.inputSchema() == null ? NODES.objectNode() : PLAIN.valueToTree(t.inputSchema()));
            tool.set("annotations", t.annotations() == null ? NODES.nullNode() : PLAIN.valueToTree(t.annotations()));
        }
        item.putNull("error");
        return item;
    }

    // ------------------------------------------------------------------ the model loop

    /**
     * The run as one stream of chat chunks for {@link ResponsesApi.Stream}, with its own steps (tool lists, call
     * results, the start of another model call) as {@link #CONTROL} items between them. Chunks' usage is the run's
     * sum so far. Cancelling it cancels the model call or MCP call in progress; the sessions close at the end.
     */
    Multi<ObjectNode> stream(InferenceExchange first) {
        Run run = first.hosted;
        List<ObjectNode> start = new ArrayList<>();
        run.startItems.forEach(item -> start.add(control(run, "item").set("item", item)));
        return Multi.createBy().concatenating().streams(Multi.createFrom().iterable(start), round(run, first))
                .onTermination().invoke(run::close);
    }

    private ObjectNode control(Run run, String step) {
        return NODES.objectNode().put(CONTROL, step).put("model", run.model).put("created", System.currentTimeMillis() / 1000);
    }

    /** One model call: its chunks relayed (tool calls given ids where the upstream gave none), then what follows it. */
    private Multi<ObjectNode> round(Run run, InferenceExchange ex) {
        Answer answer = new Answer();
        return pipeline.stream(ex)
                .onItem().invoke(chunk -> {
                    answer.take(chunk);
                    JsonNode u = chunk.get("usage");
                    if (u != null && u.has("completion_tokens")) {
                        run.addUsage(u);
                        chunk.set("usage", run.usageNode());
                    }
                })
                .onCompletion().switchTo(() -> after(run, ex, answer));
    }

    /**
     * After a model call: its MCP calls are made (one after the other, in the model's order) and, unless the answer
     * is final (no calls, a call awaiting approval, a function call for the client), the model is asked again.
     */
    private Multi<ObjectNode> after(Run run, InferenceExchange ex, Answer answer) {
        List<ObjectNode> mine = new ArrayList<>();
        boolean handBack = false;
        ObjectNode assistant = NODES.objectNode().put("role", "assistant");
        ArrayNode kept = NODES.arrayNode();
        for (ObjectNode call : answer.calls.values()) {
            Kind kind = run.kind(call.path("function").path("name").asText());
            if (kind == Kind.CALL) {
                mine.add(call);
            }
            handBack |= kind != Kind.CALL;
            if (kind != Kind.APPROVAL) {
                kept.add(call);
            }
        }
        if (answer.text.length() > 0 || kept.isEmpty()) {
            assistant.put("content", answer.text.toString());
        } else {
            assistant.putNull("content");
        }
        if (!kept.isEmpty()) {
            assistant.set("tool_calls", kept);
        }
        if (!answer.thinking.isEmpty()) {
            assistant.set("thinking_blocks", answer.thinking);
        }
        if (answer.text.length() > 0 || !kept.isEmpty()) {
            run.produced.add(assistant);
        }
        Executor back = contextExecutor();
        // the model's answer is whole: its last item closes now (an MCP call's "in progress"), before any call is made
        Multi<ObjectNode> answered = Multi.createFrom().item(control(run, "answered"));
        Multi<ObjectNode> calls = Multi.createFrom().iterable(mine).onItem().transformToUniAndConcatenate(call -> {
            Tool tool = run.tool(call.path("function").path("name").asText());
            String arguments = call.path("function").path("arguments").asText("");
            String callId = call.path("id").asText();
            run.calls++;
            return call(tool.session, tool.tool.name(), arguments).emitOn(back).map(outcome -> {
                run.produced.add(toolMessage(callId, outcome.forModel()));
                ObjectNode result = control(run, "result").put("call_id", callId);
                outcome.into(result);
                return result;
            });
        });
        Multi<ObjectNode> results = Multi.createBy().concatenating().streams(answered, calls);
        if (handBack || mine.isEmpty()) {
            return results;
        }
        return Multi.createBy().concatenating().streams(results, Multi.createFrom().deferred(() -> {
            ObjectNode next = run.chat.deepCopy();
            ArrayNode messages = (ArrayNode) next.get("messages");
            for (int i = run.inChat; i < run.produced.size(); i++) {
                messages.add(run.produced.get(i).deepCopy());
            }
            if (run.calls >= run.maxCalls) {
                next.put("tool_choice", "none"); // the budget of calls is spent: the model must answer
            } else if (next.has("tool_choice") && !"none".equals(next.path("tool_choice").asText())) {
                next.put("tool_choice", "auto"); // a forced call was made: forced again, the model could never answer
            }
            run.round++;
            return Multi.createFrom().uni(pipeline.admit(ex.caller, ex.requestId, ex.api, ex.endpoint, next, 0).emitOn(back))
                    .onItem().transformToMultiAndConcatenate(nextEx -> {
                        nextEx.responses = ex.responses;
                        nextEx.hosted = run;
                        return Multi.createBy().concatenating().streams(Multi.createFrom().item(control(run, "round")),
                                round(run, nextEx));
                    });
        }));
    }

    /** A model call's answer as its chunks build it: text, signed thinking and tool calls (by index). */
    static final class Answer {
        final StringBuilder text = new StringBuilder();
        final ArrayNode thinking = NODES.arrayNode();
        final Map<Integer, ObjectNode> calls = new java.util.TreeMap<>();

        void take(ObjectNode chunk) {
            JsonNode delta = chunk.path("choices").path(0).path("delta");
            text.append(delta.path("content").asText(""));
            delta.path("thinking_blocks").forEach(thinking::add);
            for (JsonNode c : delta.path("tool_calls")) {
                int index = c.path("index").asInt();
                ObjectNode call = calls.get(index);
                if (call == null) {
                    call = NODES.objectNode().put("id", c.path("id").asText("")).put("type", "function");
                    call.putObject("function").put("name", c.path("function").path("name").asText("")).put("arguments", "");
                    if (call.path("id").asText().isEmpty()) { // some local servers give none: the Responses items need one
                        call.put("id", "call_" + ResponsesApi.hex());
                        ((ObjectNode) c).put("id", call.path("id").asText());
                    }
                    calls.put(index, call);
                }
                ObjectNode function = (ObjectNode) call.get("function");
                function.put("arguments", function.path("arguments").asText() + c.path("function").path("arguments").asText(""));
            }
        }
    }

    // ------------------------------------------------------------------ MCP

    /** An MCP call's result: its output (text), or its error. */
    record Outcome(String output, String error) {
        String forModel() {
            return error != null ? "Error: " + error : output;
        }

        void into(ObjectNode item) {
            item.set("output", output == null ? NODES.nullNode() : NODES.textNode(output));
            item.set("error", error == null ? NODES.nullNode() : NODES.textNode(error));
            item.put("status", error == null ? "completed" : "failed");
        }
    }

    /**
     * Opens a session with a server and lists its tools (every page), those the request allows kept; with
     * {@code knownTools} (the tools of an earlier {@code mcp_list_tools} item) it takes those instead of asking.
     */
    private Uni<Session> open(Server server, JsonNode knownTools) {
        return Uni.createFrom().item(() -> {
                    checkAddress(server, privateNetworks);
                    return new Session(server, client(server));
                })
                .runSubscriptionOn(Infrastructure.getDefaultWorkerPool())
                .flatMap(session -> uni(session.client.initialize())
                        .flatMap(init -> knownTools != null && reuse(session, knownTools) ? Uni.createFrom().item(session)
                                : listAll(session, null, 0))
                        .onFailure().invoke(e -> session.client.closeGracefully().onErrorResume(x -> Mono.empty()).subscribe()))
                .onFailure(e -> !(e instanceof ApiException)).transform(e -> {
                    LOG.warnf("MCP server '%s' (%s) could not be used: %s", server.label(), server.url().getHost(), causes(e));
                    return unusable(server, reason(e));
                });
    }

    /** The 424 for a server whose tools could not be listed, and why, in its user's terms. */
    private static ApiException unusable(Server server, String why) {
        return new ApiException(ErrorCode.MCP_SERVER_ERROR, "Error retrieving tool list from MCP server '" + server.label() + "': " + why,
                List.of(Map.of("field", server.field() + ".server_url", "message", why)));
    }

    /**
     * The session's tools from an earlier list item (as {@link #listToolsItem} wrote it), those this request allows
     * kept; false, and nothing taken, when the item cannot be read as tools (it is then listed afresh).
     */
    static boolean reuse(Session session, JsonNode tools) {
        List<McpSchema.Tool> read = new ArrayList<>();
        for (JsonNode t : tools) {
            if (!t.path("name").isTextual() || !(t.path("input_schema").isObject() || t.path("input_schema").isMissingNode())) {
                return false;
            }
            try {
                Map<String, Object> schema = t.path("input_schema").isObject() && !t.path("input_schema").isEmpty()
                        ? PLAIN.convertValue(t.path("input_schema"), STRING_MAP) : null;
                McpSchema.ToolAnnotations annotations = t.path("annotations").isObject()
                        ? PLAIN.convertValue(t.path("annotations"), McpSchema.ToolAnnotations.class) : null;
                read.add(new McpSchema.Tool(t.path("name").asText(), null, t.path("description").textValue(), schema, null,
                        annotations, null));
            } catch (IllegalArgumentException unreadable) {
                return false;
            }
        }
        read.stream().filter(session.server::offers).forEach(session.tools::add);
        session.reused = true;
        return true;
    }

    private Uni<Session> listAll(Session session, String cursor, int page) {
        return uni(cursor == null ? session.client.listTools() : session.client.listTools(cursor)).flatMap(result -> {
            for (McpSchema.Tool t : result.tools()) {
                if (session.server.offers(t)) {
                    session.tools.add(t);
                }
            }
            String next = result.nextCursor();
            return next == null || next.isEmpty() || page >= 20 ? Uni.createFrom().item(session) : listAll(session, next, page + 1);
        });
    }

    /** Calls a tool; what goes wrong (bad arguments, a tool error, a broken server) is the outcome's error, for the model. */
    Uni<Outcome> call(Session session, String name, String arguments) {
        Map<String, Object> args;
        try {
            JsonNode parsed = arguments == null || arguments.isBlank() ? NODES.objectNode() : mapper.readTree(arguments);
            if (!parsed.isObject()) {
                return Uni.createFrom().item(new Outcome(null, "the arguments are not a JSON object"));
            }
            args = mapper.convertValue(parsed, STRING_MAP);
        } catch (Exception e) {
            return Uni.createFrom().item(new Outcome(null, "the arguments are not valid JSON"));
        }
        return uni(session.client.callTool(new McpSchema.CallToolRequest(name, args)))
                .map(result -> {
                    String text = text(result);
                    return Boolean.TRUE.equals(result.isError()) ? new Outcome(null, text) : new Outcome(text, null);
                })
                .onFailure().recoverWithItem(e -> new Outcome(null, "the MCP server failed: " + reason(e)));
    }

    /** A tool result as text: its text parts; other parts named by what they are; structured content when there is no text. */
    private String text(McpSchema.CallToolResult result) {
        StringBuilder out = new StringBuilder();
        if (result.content() != null) {
            for (McpSchema.Content c : result.content()) {
                if (out.length() > 0) {
                    out.append('\n');
                }
                if (c instanceof McpSchema.TextContent t) {
                    out.append(t.text());
                } else if (c instanceof McpSchema.EmbeddedResource r && r.resource() instanceof McpSchema.TextResourceContents t) {
                    out.append(t.text());
                } else if (c instanceof McpSchema.ResourceLink l) {
                    out.append("[resource ").append(l.uri()).append(']');
                } else {
                    out.append('[').append(c.type()).append(" content]");
                }
            }
        }
        if (out.length() == 0 && result.structuredContent() != null) {
            try {
                out.append(mapper.writeValueAsString(result.structuredContent()));
            } catch (Exception e) {
                // nothing to add
            }
        }
        return out.toString();
    }

    private McpAsyncClient client(Server server) {
        URI url = server.url();
        String base = url.getScheme() + "://" + url.getRawAuthority();
        String path = (url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath())
                + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery());
        java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest.newBuilder().timeout(timeout);
        server.headers().forEach(request::header);
        java.net.http.HttpClient.Builder http = java.net.http.HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                .followRedirects(java.net.http.HttpClient.Redirect.NEVER);
        if ("http".equalsIgnoreCase(url.getScheme())) {
            // no h2c upgrade attempt on cleartext: few servers take it, and HTTP/2 comes through TLS (ALPN) anyway
            http.version(java.net.http.HttpClient.Version.HTTP_1_1);
        }
        McpClientTransport transport = path.endsWith("/sse") || path.contains("/sse?")
                ? HttpClientSseClientTransport.builder(base).sseEndpoint(path).clientBuilder(http).requestBuilder(request)
                .jsonMapper(mcpJson).build()
                : HttpClientStreamableHttpTransport.builder(base).endpoint(path).clientBuilder(http).requestBuilder(request)
                .jsonMapper(mcpJson).build();
        return McpClient.async(transport).requestTimeout(timeout).initializationTimeout(timeout)
                .clientInfo(new McpSchema.Implementation("scaigrid-gateway", "1.0"))
                .jsonSchemaValidator(schemaValidator)
                .build();
    }

    /** Refuses a server on a private, loopback or link-local address (unless allowed): the gateway's own network stays out of reach. */
    static void checkAddress(Server server, boolean privateNetworks) {
        if (privateNetworks) {
            return;
        }
        InetAddress[] addresses;
        try {
            addresses = InetAddress.getAllByName(server.url().getHost());
        } catch (java.net.UnknownHostException e) {
            throw unusable(server, "its host is unknown");
        }
        for (InetAddress a : addresses) {
            if (a.isLoopbackAddress() || a.isSiteLocalAddress() || a.isLinkLocalAddress() || a.isAnyLocalAddress()
                    || a.isMulticastAddress() || uniqueLocal(a) || sharedAddressSpace(a)) {
                throw ApiException.validation(server.field() + ".server_url", "server_url is on a private network, which this gateway "
                        + "does not reach for callers (scaigrid.mcp.private-networks)");
            }
        }
    }

    private static boolean uniqueLocal(InetAddress a) {
        return a instanceof java.net.Inet6Address && (a.getAddress()[0] & 0xfe) == 0xfc;
    }

    /** 100.64.0.0/10 (carrier-grade NAT, also cloud-internal ranges). */
    private static boolean sharedAddressSpace(InetAddress a) {
        byte[] b = a.getAddress();
        return b.length == 4 && (b[0] & 0xff) == 100 && (b[1] & 0xc0) == 64;
    }

    /**
     * What went wrong with a server, in a line that tells its user (not the gateway's internals): what the network
     * said, when it was the network; else the innermost message (the SDK wraps what the server answered).
     */
    static String reason(Throwable e) {
        String innermost = null;
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof java.util.concurrent.TimeoutException || t instanceof java.net.http.HttpTimeoutException) {
                return "it did not answer in time";
            }
            if (t instanceof java.net.ConnectException || t instanceof java.nio.channels.UnresolvedAddressException) {
                return "it could not be reached";
            }
            if (t instanceof java.net.UnknownHostException) {
                return "its host is unknown";
            }
            if (t.getMessage() != null && !(t instanceof java.util.concurrent.CompletionException)) {
                innermost = t.getMessage();
            }
        }
        String message = innermost == null ? e.getClass().getSimpleName() : innermost;
        return message.length() > 300 ? message.substring(0, 300) + "..." : message;
    }

    /** Every cause's type and message, outermost first: for the operator's log. */
    private static String causes(Throwable e) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            out.append(out.length() == 0 ? "" : " <- ").append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        }
        return out.toString();
    }

    private static <T> Uni<T> uni(Mono<T> mono) {
        return Uni.createFrom().completionStage(mono::toFuture);
    }

    /** Where the SDK's callbacks (on its own threads) hand back to: the caller's Vert.x context, when there is one. */
    private static Executor contextExecutor() {
        io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
        return task -> Contexts.runOn(context, task);
    }
}
