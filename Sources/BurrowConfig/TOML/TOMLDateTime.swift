/// A TOML date, time or both, with or without a UTC offset: the four kinds TOML 1.0 has, kept
/// as the file wrote them (no calendar arithmetic, no time zone database).
public struct TOMLDateTime: Hashable, Sendable, CustomStringConvertible {
    public struct Date: Hashable, Sendable {
        public var year: Int
        public var month: Int
        public var day: Int

        public init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }

        /// Whether the day exists: 2021-02-29 does not, 2020-02-29 does.
        var isValid: Bool {
            guard (1...12).contains(self.month), self.day >= 1 else { return false }
            return self.day <= Self.days(inMonth: self.month, year: self.year)
        }

        static func days(inMonth month: Int, year: Int) -> Int {
            switch month {
            case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
            case 4, 6, 9, 11: 30
            default: 31
            }
        }
    }

    public struct Time: Hashable, Sendable {
        public var hour: Int
        public var minute: Int
        /// 0...60: RFC 3339 allows a leap second.
        public var second: Int
        /// Digits past the ninth are truncated, as TOML allows.
        public var nanosecond: Int

        public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
            self.hour = hour
            self.minute = minute
            self.second = second
            self.nanosecond = nanosecond
        }
    }

    public enum Kind: Sendable {
        case offsetDateTime, localDateTime, localDate, localTime

        var name: String {
            switch self {
            case .offsetDateTime: "a date-time"
            case .localDateTime: "a local date-time"
            case .localDate: "a date"
            case .localTime: "a time"
            }
        }
    }

    public var date: Date?
    public var time: Time?
    /// Minutes east of UTC; nil for local values.
    public var offsetMinutes: Int?

    public init(date: Date?, time: Time?, offsetMinutes: Int?) {
        self.date = date
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    public var kind: Kind {
        switch (self.date, self.time, self.offsetMinutes) {
        case (.some, .some, .some): .offsetDateTime
        case (.some, .some, nil): .localDateTime
        case (.some, nil, _): .localDate
        default: .localTime
        }
    }

    /// RFC 3339: `1979-05-27T07:32:00.5-07:00`, with the parts this value has; the fraction
    /// without trailing zeros, a zero offset as `Z`.
    public var description: String {
        var text = ""
        if let date = self.date {
            text += Self.digits(date.year, 4) + "-" + Self.digits(date.month, 2) + "-" + Self.digits(date.day, 2)
        }
        if let time = self.time {
            if self.date != nil { text += "T" }
            text += Self.digits(time.hour, 2) + ":" + Self.digits(time.minute, 2) + ":" + Self.digits(time.second, 2)
            if time.nanosecond > 0 {
                var fraction = Self.digits(time.nanosecond, 9)
                while fraction.hasSuffix("0") { fraction.removeLast() }
                text += "." + fraction
            }
        }
        if let offset = self.offsetMinutes {
            if offset == 0 {
                text += "Z"
            } else {
                text += (offset < 0 ? "-" : "+") + Self.digits(abs(offset) / 60, 2) + ":" + Self.digits(abs(offset) % 60, 2)
            }
        }
        return text
    }

    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
