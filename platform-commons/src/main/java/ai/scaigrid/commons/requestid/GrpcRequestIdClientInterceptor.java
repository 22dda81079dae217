package ai.scaigrid.commons.requestid;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/** Propagates the current request id to every outgoing gRPC call as {@code x-request-id}. */
@ApplicationScoped
@GlobalInterceptor
public class GrpcRequestIdClientInterceptor implements ClientInterceptor {

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(MethodDescriptor<ReqT, RespT> method,
                                                               CallOptions callOptions, Channel next) {
        String requestId = RequestIds.current();
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, callOptions)) {
            @Override
            public void start(Listener<RespT> responseListener, Metadata headers) {
                if (requestId != null && !headers.containsKey(GrpcRequestIdServerInterceptor.KEY)) {
                    headers.put(GrpcRequestIdServerInterceptor.KEY, requestId);
                }
                super.start(responseListener, headers);
            }
        };
    }
}
