import ArgumentParser
import BurrowProtocol

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a new random token (32 bytes, URL-safe base64) for server.toml and client.toml."
    )

    func run() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // URL-safe alphabet, no padding: the token can sit in a URL or a shell line unquoted.
        let token = Base64.encode(bytes).compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        }
        print(String(token))
    }
}
