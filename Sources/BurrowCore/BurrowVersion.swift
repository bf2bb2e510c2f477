/// This build's version, sent in the login and shown by `burrow --version`.
public enum BurrowVersion {
    public static let current = "0.1.0"
}
