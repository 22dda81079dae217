package ai.scaigrid.commons.it;

import ai.scaigrid.commons.api.Envelope;
import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.test.grpc.EchoRequest;
import ai.scaigrid.commons.test.grpc.EchoService;
import ai.scaigrid.commons.test.grpc.FailRequest;
import io.quarkus.grpc.GrpcClient;
import io.smallrye.mutiny.Uni;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;

import java.util.Map;

/** A REST endpoint that calls the echo service over gRPC: REST → gRPC → REST, as a bridge does. */
@ai.scaigrid.commons.security.PublicEndpoint
@Path("/test")
public class EchoBridgeResource {

    @GrpcClient("echo")
    EchoService echo;

    @jakarta.inject.Inject
    io.vertx.mutiny.sqlclient.Pool pool;

    /** Hands the caller's text to PostgreSQL as a value of the given type, the way a lookup by id does. */
    @GET
    @Path("/db/{type}")
    public Uni<Envelope<String>> db(@PathParam("type") String type, @QueryParam("value") String value) {
        String cast = switch (type) {
            case "text" -> "$1::text";
            case "int" -> "$1::text::int";
            case "date" -> "$1::text::timestamptz";
            case "jsonb" -> "$1::text::jsonb";
            default -> throw ApiException.validation("type", "unknown type");
        };
        return pool.preparedQuery("SELECT " + cast + "::text AS v").execute(io.vertx.mutiny.sqlclient.Tuple.of(value))
                .map(rows -> Envelope.of(rows.iterator().next().getString("v")));
    }

    @GET
    @Path("/echo")
    public Uni<Envelope<Map<String, String>>> echo(@QueryParam("text") String text) {
        String restId = RequestIds.current();
        return echo.echo(EchoRequest.newBuilder().setText(text == null ? "" : text).build())
                .map(reply -> Envelope.of(Map.of(
                        "text", reply.getText(),
                        "rest_request_id", String.valueOf(restId),
                        "grpc_request_id", reply.getRequestId())));
    }

    @GET
    @Path("/fail/{code}")
    public Uni<Envelope<Object>> fail(@PathParam("code") String code, @QueryParam("message") String message) {
        return echo.fail(FailRequest.newBuilder().setCode(code).setMessage(message == null ? "" : message).build())
                .map(reply -> Envelope.<Object>of(reply.getText()))
                .onFailure().transform(GrpcErrors::fromGrpc);
    }

    @GET
    @Path("/local/{code}")
    public Envelope<Object> localFailure(@PathParam("code") String code) {
        if ("CRASH".equals(code)) {
            throw new IllegalStateException("java.sql.SQLException: SELECT * FROM api_keys WHERE hash = 'x'");
        }
        throw new ApiException(ErrorCode.fromCode(code).orElseThrow());
    }

    public record Body(String name, int count) {
    }

    @POST
    @Path("/json")
    @Consumes(MediaType.APPLICATION_JSON)
    public Envelope<Body> json(Body body) {
        if (body == null) {
            throw ApiException.validation("body", "A JSON body is required");
        }
        return Envelope.of(body);
    }
}
