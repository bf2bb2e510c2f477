/// A table while its document is being read, with what TOML 1.0 needs to know to refuse a
/// second definition: how the table came to exist. Frozen into a `TOMLTable` at the end.
///
/// The rules, in one place:
/// - `[a.b]` defines `b` once. It may define a table that an earlier header only implied
///   (`[a.b.c]` implies `a.b`), but not one made by dotted keys or already defined.
/// - Dotted keys (`b.c = 1`) make tables as they go and may extend tables they made, or ones only
///   implied; not a table defined by a header, an inline table, or an array of tables.
/// - Inline tables and arrays written as values are complete: nothing may add to them.
/// - `[[a]]` appends to an array of tables; a header through it (`[a.b]`) goes into its last
///   element.
final class TOMLTableNode {
    enum Origin {
        /// Named in the middle of a header; may still be defined by a header or dotted keys.
        case implied
        /// Defined by its own header (or an element of `[[array]]`).
        case header
        /// Made by dotted keys.
        case dotted
        /// The root table, or an inline table being read.
        case closed
    }

    enum Entry {
        case value(TOMLValue, offset: Int)
        case table(TOMLTableNode)
        case tableArray(TOMLTableArray)
    }

    struct KeyPart {
        var name: String
        /// Where the part starts, for error positions.
        var offset: Int
    }

    typealias Failure = TOMLParser.Failure

    private(set) var origin: Origin
    /// How many tables enclose this one; bounded by `Limits.maximumDepth`.
    let depth: Int
    let offset: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    init(origin: Origin, depth: Int, offset: Int) {
        self.origin = origin
        self.depth = depth
        self.offset = offset
    }

    /// `[key]`: the table the following key/value lines go into.
    func defineTable(_ key: [KeyPart], limits: TOMLParser.Limits) throws(Failure) -> TOMLTableNode {
        let (parent, last) = try self.walkHeader(key, limits: limits)
        var name: String { Self.text(of: key) }
        switch parent.entries[last.name] {
        case nil:
            return try parent.add(last, origin: .header, limits: limits)
        case .table(let table) where table.origin == .implied:
            table.origin = .header
            return table
        case .table(let table):
            throw Failure(offset: last.offset, message: table.origin == .dotted
                ? "table [\(name)] was already defined by dotted keys"
                : "table [\(name)] is defined twice")
        case .tableArray:
            throw Failure(offset: last.offset, message: "\(name) is an array of tables ([[\(name)]]), not a table")
        case .value(let value, _):
            throw Failure(offset: last.offset, message: "key \(Self.quoted(name)) already has a value (\(value.kindName)), so [\(name)] cannot define it")
        }
    }

    /// `[[key]]`: a new element of the array of tables, which the following lines go into.
    func appendArrayTable(_ key: [KeyPart], limits: TOMLParser.Limits) throws(Failure) -> TOMLTableNode {
        let (parent, last) = try self.walkHeader(key, limits: limits)
        var name: String { Self.text(of: key) }
        let array: TOMLTableArray
        switch parent.entries[last.name] {
        case nil:
            array = TOMLTableArray(offset: last.offset)
            parent.entries[last.name] = .tableArray(array)
            parent.order.append(last.name)
        case .tableArray(let existing):
            array = existing
        case .table:
            throw Failure(offset: last.offset, message: "[[\(name)]] cannot append to \(name): it is a table, not an array of tables")
        case .value(.array, _):
            throw Failure(offset: last.offset, message: "[[\(name)]] cannot append to \(name): it was written as an array value, which is complete")
        case .value(let value, _):
            throw Failure(offset: last.offset, message: "key \(Self.quoted(name)) already has a value (\(value.kindName)), so [[\(name)]] cannot define it")
        }
        let element = try Self.make(origin: .header, depth: parent.depth + 1, offset: last.offset, limits: limits)
        array.tables.append(element)
        return element
    }

    /// `a.b.c = value` in this table.
    func insert(_ key: [KeyPart], _ value: TOMLValue, limits: TOMLParser.Limits) throws(Failure) {
        var node = self
        for (index, part) in key.dropLast().enumerated() {
            // Named only for a message: building it for every part of every key would cost more
            // than reading the file.
            var name: String { Self.text(of: key[...index]) }
            switch node.entries[part.name] {
            case nil:
                node = try node.add(part, origin: .dotted, limits: limits)
            case .table(let table) where table.origin == .dotted || table.origin == .implied:
                table.origin = .dotted
                node = table
            case .table:
                throw Failure(offset: part.offset, message: "table \(name) was defined by a [header]; dotted keys cannot add to it")
            case .tableArray:
                throw Failure(offset: part.offset, message: "\(name) is an array of tables; dotted keys cannot add to it")
            case .value(.table, _):
                throw Failure(offset: part.offset, message: "\(name) is an inline table, which is complete; dotted keys cannot add to it")
            case .value(let value, _):
                throw Failure(offset: part.offset, message: "key \(Self.quoted(name)) already has a value (\(value.kindName)), not a table")
            }
        }
        let last = key[key.count - 1]
        guard node.entries[last.name] == nil else {
            throw Failure(offset: last.offset, message: "key \(Self.quoted(Self.text(of: key))) is defined twice")
        }
        node.entries[last.name] = .value(value, offset: last.offset)
        node.order.append(last.name)
    }

    /// The finished table, each key with its position.
    func frozen(_ lines: TOMLLineIndex) -> TOMLTable {
        var table = TOMLTable()
        for key in self.order {
            switch self.entries[key] {
            case .value(let value, let offset):
                table.set(key, value, at: offset, in: lines)
            case .table(let node):
                table.set(key, .table(node.frozen(lines)), at: node.offset, in: lines)
            case .tableArray(let array):
                table.set(key, .array(array.tables.map { .table($0.frozen(lines)) }), at: array.offset, in: lines)
            case nil:
                continue
            }
        }
        return table
    }

    /// Follows a header's key to the table its last part belongs in, making implied tables on
    /// the way.
    private func walkHeader(_ key: [KeyPart], limits: TOMLParser.Limits) throws(Failure) -> (TOMLTableNode, KeyPart) {
        var node = self
        for (index, part) in key.dropLast().enumerated() {
            var name: String { Self.text(of: key[...index]) }
            switch node.entries[part.name] {
            case nil:
                node = try node.add(part, origin: .implied, limits: limits)
            case .table(let table):
                node = table
            case .tableArray(let array):
                node = array.tables[array.tables.count - 1]
            case .value(.table, _):
                throw Failure(offset: part.offset, message: "\(name) is an inline table, which is complete; a header cannot add to it")
            case .value(.array, _):
                throw Failure(offset: part.offset, message: "\(name) was written as an array value, which is complete; a header cannot add to it")
            case .value(let value, _):
                throw Failure(offset: part.offset, message: "key \(Self.quoted(name)) already has a value (\(value.kindName)), not a table")
            }
        }
        return (node, key[key.count - 1])
    }

    private func add(_ part: KeyPart, origin: Origin, limits: TOMLParser.Limits) throws(Failure) -> TOMLTableNode {
        let table = try Self.make(origin: origin, depth: self.depth + 1, offset: part.offset, limits: limits)
        self.entries[part.name] = .table(table)
        self.order.append(part.name)
        return table
    }

    static func make(origin: Origin, depth: Int, offset: Int, limits: TOMLParser.Limits) throws(Failure) -> TOMLTableNode {
        guard depth <= limits.maximumDepth else {
            throw Failure(offset: offset, message: "tables nested more than \(limits.maximumDepth) deep")
        }
        return TOMLTableNode(origin: origin, depth: depth, offset: offset)
    }

    /// A key for a message: `"bind"`, `"a.b"`, or as written when it has quoted parts.
    static func quoted(_ text: String) -> String {
        text.contains("\"") ? text : "\"\(text)\""
    }

    /// A key as a user wrote it: `a.b`, with parts that are not bare quoted: `site."example.com"`.
    static func text(of key: some Collection<KeyPart>) -> String {
        key.map { part in
            let bare = !part.name.isEmpty && part.name.utf8.allSatisfy(TOMLParser.isBareKeyByte)
            return bare ? part.name : "\"\(part.name)\""
        }.joined(separator: ".")
    }
}

/// The elements of one `[[array]]`, in order; headers below it go into the last.
final class TOMLTableArray {
    var tables: [TOMLTableNode] = []
    let offset: Int

    init(offset: Int) {
        self.offset = offset
    }
}
