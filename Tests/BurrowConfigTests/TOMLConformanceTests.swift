import BurrowConfig
import Foundation
import Testing

/// The toml-test corpus (TOML 1.0; MIT, see toml-test/COPYING): every valid document must read
/// to exactly the tagged JSON beside it, every invalid one must be refused with a syntax error.
/// `.multi` files are the sources the single invalid cases were cut from, not documents.
@Suite struct TOMLConformanceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("toml-test/tests")

    /// Every file under `toml-test/tests/<group>`, relative to it, sorted.
    static func cases(_ group: String) -> [String] {
        let base = Self.root.appendingPathComponent(group)
        let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".toml") || $0.hasSuffix("-toml") }.sorted()
    }

    static func bytes(_ group: String, _ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: Self.root.appendingPathComponent(group).appendingPathComponent(name)))
    }

    @Test func theCorpusIsThere() {
        #expect(Self.cases("valid").count == 95)
        #expect(Self.cases("invalid").count == 185)
    }

    @Test(arguments: Self.cases("valid"))
    func validDocumentsReadToTheirJSON(_ name: String) throws {
        let table = try TOMLParser.parse(try Self.bytes("valid", name))
        let jsonName = String(name.dropLast(5)) + (name.hasSuffix(".toml") ? ".json" : "-json")
        let expected = try JSONSerialization.jsonObject(with: Data(try Self.bytes("valid", jsonName)), options: [.fragmentsAllowed])
        let mismatch = Self.mismatch(.table(table), expected, at: "")
        #expect(mismatch == nil, "\(name): \(mismatch ?? "")")
    }

    @Test(arguments: Self.cases("invalid"))
    func invalidDocumentsAreRefused(_ name: String) throws {
        let bytes = try Self.bytes("invalid", name)
        #expect(throws: TOMLSyntaxError.self, "\(name) was accepted") { try TOMLParser.parse(bytes) }
    }

    // MARK: - Tagged JSON

    /// Where `value` differs from toml-test's JSON for it, or nil when it matches.
    static func mismatch(_ value: TOMLValue, _ json: Any, at path: String) -> String? {
        switch value {
        case .table(let table):
            guard let object = json as? [String: Any] else { return "\(path): a table where JSON has \(json)" }
            guard Set(table.keys) == Set(object.keys) else {
                return "\(path): keys \(table.keys.sorted()) where JSON has \(object.keys.sorted())"
            }
            for key in table.keys {
                if let problem = Self.mismatch(table[key]!, object[key]!, at: "\(path).\(key)") { return problem }
            }
            return nil
        case .array(let elements):
            guard let array = json as? [Any], array.count == elements.count else {
                return "\(path): \(elements.count) elements where JSON has \(json)"
            }
            for (index, element) in elements.enumerated() {
                if let problem = Self.mismatch(element, array[index], at: "\(path)[\(index)]") { return problem }
            }
            return nil
        default:
            guard let tagged = json as? [String: Any], let type = tagged["type"] as? String, let text = tagged["value"] as? String else {
                return "\(path): a scalar \(value) where JSON has \(json)"
            }
            return Self.scalarMatches(value, type: type, text: text) ? nil : "\(path): \(value) where JSON has \(type) \(text)"
        }
    }

    static func scalarMatches(_ value: TOMLValue, type: String, text: String) -> Bool {
        switch (value, type) {
        case (.string(let string), "string"):
            return string == text
        case (.integer(let number), "integer"):
            return Int64(text) == number
        case (.boolean(let flag), "bool"):
            return "\(flag)" == text
        case (.float(let number), "float"):
            switch text {
            case "nan", "+nan", "-nan": return number.isNaN
            case "inf", "+inf": return number == .infinity
            case "-inf": return number == -.infinity
            default: return Double(text) == number
            }
        case (.dateTime(let moment), _):
            let kind: String = switch moment.kind {
            case .offsetDateTime: "datetime"
            case .localDateTime: "datetime-local"
            case .localDate: "date-local"
            case .localTime: "time-local"
            }
            return kind == type && moment.description == Self.canonical(text)
        default:
            return false
        }
    }

    /// RFC 3339 text as `TOMLDateTime.description` writes it: upper-case `T` and `Z`, a zero
    /// offset as `Z`, no trailing zeros in the fraction.
    static func canonical(_ text: String) -> String {
        var result = text.uppercased().replacingOccurrences(of: " ", with: "T")
        for zero in ["+00:00", "-00:00"] where result.hasSuffix(zero) {
            result = String(result.dropLast(6)) + "Z"
        }
        if let point = result.firstIndex(of: ".") {
            let digits = result[result.index(after: point)...].prefix { $0.isNumber }
            var trimmed = String(digits)
            while trimmed.hasSuffix("0") { trimmed.removeLast() }
            let rest = result[digits.endIndex...]
            result = String(result[..<point]) + (trimmed.isEmpty ? "" : "." + trimmed) + rest
        }
        return result
    }
}
