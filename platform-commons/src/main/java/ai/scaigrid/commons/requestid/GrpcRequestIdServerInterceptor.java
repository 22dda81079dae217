package ai.scaigrid.commons.requestid;

import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * gRPC side of request ids: takes {@code x-request-id} from the call metadata (or generates one),
 * binds it around every callback of the call (they run on the request's Vert.x context, where logs
 * and outgoing calls find it) and echoes it in the response headers.
 */
@ApplicationScoped
@GlobalInterceptor
public class GrpcRequestIdServerInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> KEY = Metadata.Key.of(RequestIds.GRPC_METADATA, Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        String requestId = RequestIds.acceptOrGenerate(headers.get(KEY));
        RequestIds.bind(requestId);
        ServerCall<ReqT, RespT> echoing = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void sendHeaders(Metadata responseHeaders) {
                responseHeaders.put(KEY, requestId);
                super.sendHeaders(responseHeaders);
            }
        };
        ServerCall.Listener<ReqT> delegate = next.startCall(echoing, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
            @Override
            public void onMessage(ReqT message) {
                RequestIds.bind(requestId);
                super.onMessage(message);
            }

            @Override
            public void onHalfClose() {
                RequestIds.bind(requestId);
                super.onHalfClose();
            }

            @Override
            public void onCancel() {
                RequestIds.bind(requestId);
                super.onCancel();
            }

            @Override
            public void onComplete() {
                RequestIds.bind(requestId);
                super.onComplete();
            }

            @Override
            public void onReady() {
                RequestIds.bind(requestId);
                super.onReady();
            }
        };
    }
}
