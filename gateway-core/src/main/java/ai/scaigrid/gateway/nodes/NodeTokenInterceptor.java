package ai.scaigrid.gateway.nodes;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Keeps the raw bearer token of a HeartbeatService call: the registry calls the node back with it,
 * and the service caches its verification (a thousand nodes heartbeating must not cost a thousand
 * signature checks and database look-ups a second). Authentication itself stays with GrpcCallers.
 */
@ApplicationScoped
public class NodeTokenInterceptor implements ServerInterceptor {
    static final Context.Key<String> TOKEN = Context.key("scaigrid-node-token");
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        String value = headers.get(AUTHORIZATION);
        if (value != null && value.regionMatches(true, 0, "Bearer ", 0, 7) && value.length() > 7) {
            return Contexts.interceptCall(Context.current().withValue(TOKEN, value.substring(7).trim()), call, headers, next);
        }
        return next.startCall(call, headers);
    }
}
