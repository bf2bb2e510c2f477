/// Booleans, integers, floats and the four date/time kinds: each checked against TOML 1.0's
/// grammar before it is converted, so the conversions cannot fail or trap.
extension TOMLParser {
    mutating func boolean() throws(Failure) -> Bool {
        for (word, value) in [("true", true), ("false", false)] where self.bytes[self.index...].starts(with: word.utf8) {
            let end = self.index + word.utf8.count
            if end == self.bytes.count || !Self.isBareKeyByte(self.bytes[end]) {
                self.index = end
                return value
            }
        }
        throw Failure(offset: self.index, message: "expected a value, found a bare word (strings need quotes; booleans are true and false)")
    }

    /// A number, or a date or time (which start with digits too).
    mutating func numberOrDateTime() throws(Failure) -> TOMLValue {
        let start = self.index
        if self.digits(at: start, count: 4) != nil, self.peek(4) == UInt8(ascii: "-") {
            return .dateTime(try self.dateTime())
        }
        if self.digits(at: start, count: 2) != nil, self.peek(2) == UInt8(ascii: ":") {
            return .dateTime(TOMLDateTime(date: nil, time: try self.time(), offsetMinutes: nil))
        }
        while let byte = self.peek(), Self.isBareKeyByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "+") {
            self.index += 1
        }
        return try self.number(self.bytes[start..<self.index], at: start)
    }

    private func number(_ token: ArraySlice<UInt8>, at start: Int) throws(Failure) -> TOMLValue {
        let text = String(decoding: token, as: UTF8.self)
        var body = token
        let sign = body.first == UInt8(ascii: "+") || body.first == UInt8(ascii: "-") ? body.popFirst() : nil
        let negative = sign == UInt8(ascii: "-")
        if body.elementsEqual("inf".utf8) { return .float(negative ? -.infinity : .infinity) }
        if body.elementsEqual("nan".utf8) { return .float(.nan) }
        if let first = body.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) {
            throw Failure(offset: start, message: "expected a value, found a bare word (strings need quotes)")
        }

        let radix: UInt64? = switch (body.first, body.dropFirst().first) {
        case (UInt8(ascii: "0"), UInt8(ascii: "x")): 16
        case (UInt8(ascii: "0"), UInt8(ascii: "o")): 8
        case (UInt8(ascii: "0"), UInt8(ascii: "b")): 2
        default: nil
        }
        if let radix {
            guard sign == nil else {
                throw Failure(offset: start, message: "invalid integer \(text): only decimal integers may have a sign")
            }
            return .integer(try self.integer(body.dropFirst(2), radix: radix, negative: false, text: text, at: start))
        }
        if body.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return .float(try self.float(body, negative: negative, text: text, at: start))
        }
        if body.count > 1, body.first == UInt8(ascii: "0"), let prefix = body.dropFirst().first,
           [UInt8(ascii: "X"), UInt8(ascii: "O"), UInt8(ascii: "B")].contains(prefix) {
            throw Failure(offset: start, message: "invalid integer \(text): the prefixes are lower case (0x, 0o, 0b)")
        }
        guard !(body.count > 1 && body.first == UInt8(ascii: "0")) else {
            throw Failure(offset: start, message: "invalid integer \(text): leading zeros are not allowed")
        }
        return .integer(try self.integer(body, radix: 10, negative: negative, text: text, at: start))
    }

    private func integer(_ digits: ArraySlice<UInt8>, radix: UInt64, negative: Bool, text: String, at start: Int) throws(Failure) -> Int64 {
        guard Self.wellFormed(digits, radix: radix) else {
            throw Failure(offset: start, message: "invalid number \(text)")
        }
        var magnitude: UInt64 = 0
        for byte in digits where byte != UInt8(ascii: "_") {
            let digit = UInt64(Self.hexDigit(byte) ?? 0)
            let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, carry) = shifted.addingReportingOverflow(digit)
            guard !overflow, !carry else {
                throw Failure(offset: start, message: "integer \(text) does not fit in 64 bits")
            }
            magnitude = sum
        }
        let limit = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        guard magnitude <= limit else {
            throw Failure(offset: start, message: "integer \(text) does not fit in 64 bits")
        }
        return negative ? Int64(bitPattern: 0 &- magnitude) : Int64(magnitude)
    }

    /// `int-part ( "." digits )? ( e sign? digits )?`, with at least one of the two optional parts.
    private func float(_ body: ArraySlice<UInt8>, negative: Bool, text: String, at start: Int) throws(Failure) -> Double {
        let exponentMark = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let mantissa = body[..<(exponentMark ?? body.endIndex)]
        let point = mantissa.firstIndex(of: UInt8(ascii: "."))
        let whole = mantissa[..<(point ?? mantissa.endIndex)]
        var wellFormed = Self.wellFormed(whole, radix: 10) && !(whole.count > 1 && whole.first == UInt8(ascii: "0"))
        if let point {
            wellFormed = wellFormed && Self.wellFormed(mantissa[(point + 1)...], radix: 10)
        }
        if let exponentMark {
            var exponent = body[(exponentMark + 1)...]
            if exponent.first == UInt8(ascii: "+") || exponent.first == UInt8(ascii: "-") { exponent.removeFirst() }
            wellFormed = wellFormed && Self.wellFormed(exponent, radix: 10)
        }
        guard wellFormed else {
            throw Failure(offset: start, message: "invalid number \(text)")
        }
        let plain = String(decoding: body.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        guard let magnitude = Double(plain), magnitude.isFinite else {
            throw Failure(offset: start, message: "float \(text) is out of range")
        }
        return negative ? -magnitude : magnitude
    }

    /// Digits of `radix`, with single underscores allowed between digits.
    private static func wellFormed(_ digits: ArraySlice<UInt8>, radix: UInt64) -> Bool {
        guard let first = digits.first, let last = digits.last,
              first != UInt8(ascii: "_"), last != UInt8(ascii: "_") else { return false }
        var previous: UInt8 = 0
        for byte in digits {
            if byte == UInt8(ascii: "_") {
                guard previous != UInt8(ascii: "_") else { return false }
            } else {
                // Hex letters must be lower- or upper-case a-f; radix prefixes only lower-case.
                guard let digit = Self.hexDigit(byte), UInt64(digit) < radix else { return false }
            }
            previous = byte
        }
        return true
    }

    // MARK: - Dates and times

    /// `YYYY-MM-DD`, then optionally a time (after `T`, `t` or a space) and an offset.
    private mutating func dateTime() throws(Failure) -> TOMLDateTime {
        let start = self.index
        guard let year = self.digits(at: start, count: 4), self.peek(4) == UInt8(ascii: "-"),
              let month = self.digits(at: start + 5, count: 2), self.peek(7) == UInt8(ascii: "-"),
              let day = self.digits(at: start + 8, count: 2) else {
            throw Failure(offset: start, message: "expected a date as YYYY-MM-DD")
        }
        let date = TOMLDateTime.Date(year: year, month: month, day: day)
        guard date.isValid else {
            throw Failure(offset: start, message: "\(String(decoding: self.bytes[start..<(start + 10)], as: UTF8.self)) is not a date")
        }
        self.index += 10
        let separator = self.peek()
        let timeFollows = separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
            || (separator == UInt8(ascii: " ") && self.digits(at: self.index + 1, count: 2) != nil && self.peek(3) == UInt8(ascii: ":"))
        guard timeFollows else {
            return TOMLDateTime(date: date, time: nil, offsetMinutes: nil)
        }
        self.index += 1
        let time = try self.time()
        return TOMLDateTime(date: date, time: time, offsetMinutes: try self.offset())
    }

    /// `HH:MM:SS` with an optional fraction of a second.
    private mutating func time() throws(Failure) -> TOMLDateTime.Time {
        let start = self.index
        guard let hour = self.digits(at: start, count: 2), self.peek(2) == UInt8(ascii: ":"),
              let minute = self.digits(at: start + 3, count: 2), self.peek(5) == UInt8(ascii: ":"),
              let second = self.digits(at: start + 6, count: 2) else {
            throw Failure(offset: start, message: "expected a time as HH:MM:SS")
        }
        guard hour <= 23, minute <= 59, second <= 60 else {
            throw Failure(offset: start, message: "\(String(decoding: self.bytes[start..<(start + 8)], as: UTF8.self)) is not a time of day")
        }
        self.index += 8
        var nanosecond = 0
        if self.peek() == UInt8(ascii: ".") {
            self.index += 1
            var count = 0
            while let byte = self.peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                // Nanoseconds: TOML lets a reader truncate what it cannot hold.
                if count < 9 { nanosecond = nanosecond * 10 + Int(byte - UInt8(ascii: "0")) }
                count += 1
                self.index += 1
            }
            guard count > 0 else { throw self.unexpected("digits after the '.' of a time") }
            for _ in min(count, 9)..<9 { nanosecond *= 10 }
        }
        return TOMLDateTime.Time(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
    }

    /// `Z`, `+HH:MM` or `-HH:MM` after a date and time; nil when there is none (a local value).
    private mutating func offset() throws(Failure) -> Int? {
        switch self.peek() {
        case UInt8(ascii: "Z")?, UInt8(ascii: "z")?:
            self.index += 1
            return 0
        case let sign? where sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"):
            guard let hours = self.digits(at: self.index + 1, count: 2), self.peek(3) == UInt8(ascii: ":"),
                  let minutes = self.digits(at: self.index + 4, count: 2) else {
                throw self.unexpected("a UTC offset as +HH:MM or -HH:MM")
            }
            guard hours <= 23, minutes <= 59 else {
                throw Failure(offset: self.index, message: "\(String(decoding: self.bytes[self.index..<(self.index + 6)], as: UTF8.self)) is not a UTC offset")
            }
            self.index += 6
            return (sign == UInt8(ascii: "-") ? -1 : 1) * (hours * 60 + minutes)
        default:
            return nil
        }
    }

    /// The value of `count` decimal digits at `offset`, or nil unless all are digits.
    private func digits(at offset: Int, count: Int) -> Int? {
        guard offset >= 0, offset + count <= self.bytes.count else { return nil }
        var value = 0
        for byte in self.bytes[offset..<(offset + count)] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
