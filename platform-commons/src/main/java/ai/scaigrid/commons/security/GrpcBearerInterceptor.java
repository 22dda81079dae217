package ai.scaigrid.commons.security;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Makes the {@code authorization: Bearer <token>} metadata of a gRPC call available to the
 * service method (through the gRPC {@link Context}), where {@link GrpcCallers} authenticates it.
 */
@ApplicationScoped
@GlobalInterceptor
public class GrpcBearerInterceptor implements ServerInterceptor {
    static final Context.Key<String> BEARER = Context.key("scaigrid-bearer");
    static final Context.Key<Boolean> MALFORMED = Context.key("scaigrid-bearer-malformed");
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        String value = headers.get(AUTHORIZATION);
        Context context = Context.current();
        if (value != null) {
            boolean bearer = value.regionMatches(true, 0, "Bearer ", 0, 7) && value.length() > 7;
            context = bearer ? context.withValue(BEARER, value.substring(7).trim()) : context.withValue(MALFORMED, true);
        }
        return Contexts.interceptCall(context, call, headers, next);
    }
}
