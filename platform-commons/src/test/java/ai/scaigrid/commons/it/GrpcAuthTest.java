package ai.scaigrid.commons.it;

import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.commons.test.grpc.EchoRequest;
import ai.scaigrid.commons.test.grpc.EchoServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** gRPC authentication: no token, an API key on a node RPC, a right and a wrong service scope. */
@QuarkusTest
class GrpcAuthTest {
    private static ManagedChannel channel;

    @BeforeAll
    static void open() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59001).usePlaintext().build();
    }

    @AfterAll
    static void close() {
        channel.shutdownNow();
    }

    private static EchoServiceGrpc.EchoServiceBlockingStub stub(String authorization) {
        var stub = EchoServiceGrpc.newBlockingStub(channel);
        if (authorization == null) {
            return stub;
        }
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
    }

    private static StatusRuntimeException fails(Runnable call) {
        return catchThrowableOfType(StatusRuntimeException.class, call::run);
    }

    private static final EchoRequest REQ = EchoRequest.newBuilder().setText("x").build();

    @Test
    void noTokenIsUnauthenticated() {
        StatusRuntimeException e = fails(() -> stub(null).nodeOnly(REQ));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo("AUTH_TOKEN_MISSING");
    }

    @Test
    void apiKeyOnANodeRpcIsUnauthenticated() {
        StatusRuntimeException e = fails(() -> stub("Bearer token-admin").nodeOnly(REQ));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo("SERVICE_TOKEN_INVALID");
    }

    @Test
    void correctlyScopedServiceTokenIsAccepted() {
        assertThat(stub("Bearer svc-node").nodeOnly(REQ).getText()).isEqualTo("svc-node");
    }

    @Test
    void wronglyScopedServiceTokenIsPermissionDenied() {
        StatusRuntimeException e = fails(() -> stub("Bearer svc-mind").nodeOnly(REQ));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo("AUTH_INSUFFICIENT_SCOPE");
    }

    @Test
    void serviceTokenOnATenantRpcIsUnauthenticated() {
        StatusRuntimeException e = fails(() -> stub("Bearer svc-node").tenantOnly(REQ));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(stub("Bearer token-user").tenantOnly(REQ).getText()).isEqualTo("usr_tenant_user");
    }

    @Test
    void malformedAndUnknownTokensAreUnauthenticated() {
        assertThat(fails(() -> stub("Basic abc").tenantOnly(REQ)).getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(fails(() -> stub("Bearer wrong").tenantOnly(REQ)).getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    }

    @Test
    void serviceTokenOnRestIs401() {
        given().header("Authorization", "Bearer svc-node").when().get("/secured/whoami").then().statusCode(401);
    }
}
