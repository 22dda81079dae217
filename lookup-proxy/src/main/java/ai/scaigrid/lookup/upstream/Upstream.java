package ai.scaigrid.lookup.upstream;

/** The systems the canvas looks into; {@code key} prefixes the seed's error values ({@code scaiqueue_auth} ...). */
public enum Upstream {
    SCAIQUEUE("scaiqueue", "ScaiQueue", "scaiqueue:view"),
    SCAIBUNKER("scaibunker", "ScaiBunker", "scaibunker:view"),
    SCAIGRID("scaigrid", "ScaiGrid", "models:list");

    private final String key;
    private final String displayName;
    private final String viewPermission;

    Upstream(String key, String displayName, String viewPermission) {
        this.key = key;
        this.displayName = displayName;
        this.viewPermission = viewPermission;
    }

    public String key() {
        return key;
    }

    public String displayName() {
        return displayName;
    }

    /** The permission the upstream wants for a read, named in the fix hint of a 403. */
    public String viewPermission() {
        return viewPermission;
    }

    public String authError() {
        return key + "_auth";
    }

    public String apiError() {
        return key + "_api";
    }
}
