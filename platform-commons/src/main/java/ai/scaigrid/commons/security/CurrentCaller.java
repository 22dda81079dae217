package ai.scaigrid.commons.security;

import ai.scaigrid.commons.error.ApiException;
import ai.scaigrid.commons.error.ErrorCode;
import jakarta.enterprise.context.RequestScoped;

/** The authenticated caller of the current REST request, set by {@link BearerAuthFilter}. */
@RequestScoped
public class CurrentCaller {
    private Caller caller;

    public Caller get() {
        if (caller == null) {
            throw new ApiException(ErrorCode.AUTH_TOKEN_MISSING);
        }
        return caller;
    }

    public boolean isPresent() {
        return caller != null;
    }

    void set(Caller caller) {
        this.caller = caller;
    }
}
