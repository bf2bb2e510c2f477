import NIOCore

/// Channel options and events specific to mux streams.
public enum MuxStreamOptions {
    public enum Types {
        /// The stream's yamux id (read only).
        public struct StreamIDOption: ChannelOption, Sendable {
            public typealias Value = UInt32
            public init() {}
        }

        /// Bytes received for the stream but not yet read by its pipeline (read only). Never
        /// more than the stream's receive window.
        public struct BufferedInboundBytesOption: ChannelOption, Sendable {
            public typealias Value = Int
            public init() {}
        }

        /// The receive window currently granted to the peer (read only).
        public struct ReceiveWindowOption: ChannelOption, Sendable {
            public typealias Value = UInt32
            public init() {}
        }
    }

    public static let streamID = Types.StreamIDOption()
    public static let bufferedInboundBytes = Types.BufferedInboundBytesOption()
    public static let receiveWindow = Types.ReceiveWindowOption()
}

/// Send with `triggerUserOutboundEvent` on a stream channel to abort it: the peer gets RST,
/// buffered data both ways is dropped and the channel closes. This is how a stream says "the
/// service behind me failed" rather than "I am done" (which is `close`).
public struct MuxStreamResetEvent: Sendable, Hashable {
    public init() {}
}
