package ai.scaigrid.commons.it;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.requestid.RequestIds;
import ai.scaigrid.commons.test.grpc.EchoReply;
import ai.scaigrid.commons.test.grpc.EchoRequest;
import ai.scaigrid.commons.test.grpc.EchoService;
import ai.scaigrid.commons.test.grpc.FailRequest;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Uni;

@GrpcService
public class EchoGrpcService implements EchoService {

    @jakarta.inject.Inject
    ai.scaigrid.commons.security.GrpcCallers callers;

    @Override
    public Uni<EchoReply> nodeOnly(EchoRequest request) {
        return callers.requireService("scaiinfer.node")
                .map(caller -> EchoReply.newBuilder().setText(caller.credentialId()).build());
    }

    @Override
    public Uni<EchoReply> tenantOnly(EchoRequest request) {
        return callers.requireUser("models:use")
                .map(caller -> EchoReply.newBuilder().setText(caller.userId()).build());
    }

    @jakarta.inject.Inject
    io.vertx.mutiny.sqlclient.Pool pool;

    @Override
    public Uni<EchoReply> echo(EchoRequest request) {
        return Uni.createFrom().item(() -> EchoReply.newBuilder()
                .setText(request.getText())
                .setRequestId(String.valueOf(RequestIds.current()))
                .build());
    }

    @Override
    public Uni<EchoReply> fail(FailRequest request) {
        if ("DB_NUL".equals(request.getCode())) {
            // a real database refusal: PostgreSQL cannot store NUL in text
            return pool.preparedQuery("SELECT $1::text AS v").execute(io.vertx.mutiny.sqlclient.Tuple.of("a\u0000b"))
                    .map(rows -> EchoReply.newBuilder().setText(rows.iterator().next().getString("v")).build());
        }
        return Uni.createFrom().failure(() -> {
            if ("CRASH".equals(request.getCode())) {
                return new IllegalStateException("ERROR: relation \"secret_table\" does not exist at org.postgresql.Foo.java:12");
            }
            ErrorCode code = ErrorCode.fromCode(request.getCode()).orElseThrow();
            return new ApiException(code, request.getMessage().isEmpty() ? code.defaultMessage() : request.getMessage());
        });
    }
}
