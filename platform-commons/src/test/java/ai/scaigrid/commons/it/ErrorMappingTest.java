package ai.scaigrid.commons.it;

import ai.scaigrid.commons.error.ErrorCode;
import ai.scaigrid.commons.error.GrpcErrors;
import ai.scaigrid.commons.test.grpc.EchoServiceGrpc;
import ai.scaigrid.commons.test.grpc.FailRequest;
import ai.scaigrid.commons.testing.EmbeddedPostgresTestResource;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.response.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.matchesPattern;

/**
 * Every row of the error table, over REST, over gRPC, and REST → gRPC → REST (the code survives
 * the trip in {@code scaigrid-error-code}); plus sanitisation of internal errors.
 */
@QuarkusTest
@QuarkusTestResource(EmbeddedPostgresTestResource.class)
class ErrorMappingTest {
    private static ManagedChannel channel;
    private static EchoServiceGrpc.EchoServiceBlockingStub stub;

    @BeforeAll
    static void openChannel() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", 59001).usePlaintext().build();
        stub = EchoServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void closeChannel() {
        channel.shutdownNow();
    }

    @ParameterizedTest
    @EnumSource(ErrorCode.class)
    void restErrorCarriesCodeStatusAndRequestId(ErrorCode code) {
        Response response = given().header("X-Request-Id", "req_row_" + code.name())
                .when().get("/test/local/" + code.code())
                .then().statusCode(code.httpStatus())
                .header("X-Request-Id", "req_row_" + code.name())
                .body("status", equalTo("error"))
                .body("error.code", equalTo(code.code()))
                .body("meta.request_id", equalTo("req_row_" + code.name()))
                .extract().response();
        assertThat(response.jsonPath().getMap("error")).containsKeys("code", "message", "details");
    }

    @ParameterizedTest
    @EnumSource(ErrorCode.class)
    void grpcErrorCarriesStatusAndCodeMetadata(ErrorCode code) {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> stub.fail(FailRequest.newBuilder().setCode(code.code()).build()));
        assertThat(e.getStatus().getCode()).isEqualTo(code.grpcStatus());
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo(code.code());
    }

    @ParameterizedTest
    @EnumSource(ErrorCode.class)
    void codeSurvivesRestToGrpcToRest(ErrorCode code) {
        given().header("X-Request-Id", "req_trip_" + code.name())
                .when().get("/test/fail/" + code.code())
                .then().statusCode(code.httpStatus())
                .body("error.code", equalTo(code.code()))
                .body("meta.request_id", equalTo("req_trip_" + code.name()));
    }

    @Test
    void passThroughMessageReachesTheRestCaller() {
        given().when().get("/test/fail/MODEL_NOT_FOUND?message=No model 'acme/x'")
                .then().statusCode(404).body("error.message", equalTo("No model 'acme/x'"));
    }

    @Test
    void internalRestErrorIsSanitised() {
        given().when().get("/test/local/CRASH")
                .then().statusCode(500)
                .body("error.code", equalTo("INTERNAL_ERROR"))
                .body("error.message", equalTo(ErrorCode.INTERNAL_ERROR.defaultMessage()))
                .body(not(containsString("SELECT")))
                .body(not(containsString("api_keys")))
                .body(not(containsString("Exception")))
                .body("meta.request_id", matchesPattern("req_[A-Za-z0-9]{24}"));
    }

    @Test
    void internalGrpcErrorIsSanitisedAtTheServerAndAgainAtTheClient() {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> stub.fail(FailRequest.newBuilder().setCode("CRASH").build()));
        assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INTERNAL);
        assertThat(String.valueOf(e.getStatus().getDescription())).doesNotContain("secret_table").doesNotContain("postgresql");
        given().when().get("/test/fail/CRASH")
                .then().statusCode(500).body("error.code", equalTo("INTERNAL_ERROR"))
                .body(not(containsString("secret_table")));
    }

    @Test
    void internalsInsideACallerErrorMessageAreSanitised() {
        given().when().get("/test/fail/CONFLICT?message=duplicate key value violates unique constraint \"users_pkey\"")
                .then().statusCode(409)
                .body("error.code", equalTo("CONFLICT"))
                .body("error.message", equalTo(ErrorCode.CONFLICT.defaultMessage()));
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
            "text     | a%00b                 | Text values must not contain NUL",
            "int      | 99999999999999999999  | out of range",
            "int      | twelve                | expected format",
            "date     | 2026-13-45            | date or time",
            "jsonb    | %7B%22a%22%3A%22%5Cu0000%22%7D | Text values must not contain NUL"})
    void aValueTheDatabaseRefusesIsTheCallersError(String type, String value, String message) {
        given().urlEncodingEnabled(false).header("X-Request-Id", "req_data_" + type)
                .when().get("/test/db/" + type + "?value=" + value)
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.message", containsString(message))
                .body("meta.request_id", equalTo("req_data_" + type))
                .body(not(containsString("SQLSTATE")))
                .body(not(containsString("invalid input syntax")))
                .body(not(containsString("Exception")));
    }

    @Test
    void aValueTheDatabaseAcceptsPassesThrough() {
        given().when().get("/test/db/text?value=plain")
                .then().statusCode(200).body("data", equalTo("plain"));
    }

    @Test
    void databaseDataErrorOverGrpcIsInvalidArgument() {
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> stub.fail(FailRequest.newBuilder().setCode("DB_NUL").build()));
        assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
        assertThat(e.getTrailers().get(GrpcErrors.ERROR_CODE_KEY)).isEqualTo("VALIDATION_ERROR");
        assertThat(String.valueOf(e.getStatus().getDescription())).contains("NUL").doesNotContain("0x00");
    }

    @Test
    void unknownRouteIsAnEnvelopedNotFound() {
        given().when().get("/no/such/route")
                .then().statusCode(404)
                .body("error.code", equalTo("NOT_FOUND"))
                .body("meta.request_id", matchesPattern("req_.+"));
    }

    @Test
    void wrongMethodIsAnEnvelopedMethodNotAllowed() {
        given().when().delete("/test/echo")
                .then().statusCode(405).body("error.code", equalTo("METHOD_NOT_ALLOWED"));
    }

    @Test
    void malformedJsonIsAValidationError() {
        given().contentType("application/json").body("{\"name\": ")
                .when().post("/test/json")
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", equalTo("body"));
    }

    @Test
    void wrongFieldTypeNamesTheField() {
        given().contentType("application/json").body("{\"name\": \"a\", \"count\": \"many\"}")
                .when().post("/test/json")
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", equalTo("count"));
    }

    /** A fraction for a whole-number field is refused on the field, not truncated (1.5 was bound as 1). */
    @Test
    void fractionForAWholeNumberNamesTheField() {
        given().contentType("application/json").body("{\"name\": \"a\", \"count\": 1.5}")
                .when().post("/test/json")
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.details[0].field", equalTo("count"));
        given().contentType("application/json").body("{\"name\": \"a\", \"count\": 2}")
                .when().post("/test/json")
                .then().statusCode(200);
    }

    @Test
    void nulInABoundStringIsRejectedOnItsField() {
        given().contentType("application/json").body("{\"name\": \"a\\u0000b\", \"count\": 1}")
                .when().post("/test/json")
                .then().statusCode(400)
                .body("error.code", equalTo("VALIDATION_ERROR"))
                .body("error.message", containsString("NUL"))
                .body("error.details[0].field", equalTo("name"));
    }

    @Test
    void wrongContentTypeIsUnsupportedMediaType() {
        given().contentType("text/plain").body("hello")
                .when().post("/test/json")
                .then().statusCode(415).body("error.code", equalTo("UNSUPPORTED_MEDIA_TYPE"));
    }

    @Test
    void successIsEnveloped() {
        given().contentType("application/json").body("{\"name\": \"a\", \"count\": 2}")
                .when().post("/test/json")
                .then().statusCode(200)
                .body("status", equalTo("ok"))
                .body("data.name", equalTo("a"))
                .body("data.count", equalTo(2));
    }

    static Metadata.Key<String> requestIdKey() {
        return Metadata.Key.of("x-request-id", Metadata.ASCII_STRING_MARSHALLER);
    }
}
