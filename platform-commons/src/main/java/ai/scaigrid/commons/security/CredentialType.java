package ai.scaigrid.commons.security;

/** How a caller authenticated; service tokens and API keys are not interchangeable. */
public enum CredentialType {
    API_KEY, USER_JWT, SERVICE_TOKEN
}
