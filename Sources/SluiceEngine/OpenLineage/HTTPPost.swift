import Foundation

/// A minimal HTTP/1.1 POST over TCP (`http://` only), enough to hand an event to a lineage collector.
enum HTTPPost {
    /// Sends `body` as JSON to `url`; throws with the reason unless the answer is 2xx. At most `timeout`
    /// seconds for the connection and again for the answer.
    static func post(_ body: [UInt8], to url: String, timeout: Double = 5) throws {
        guard let parts = URLComponents(string: url), parts.scheme == "http", let host = parts.host, !host.isEmpty
        else { throw DeliveryError("not an http:// URL: \(url)") }
        let port = parts.port ?? 80
        let path =
            (parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath)
            + (parts.percentEncodedQuery.map { "?" + $0 } ?? "")
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw DeliveryError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(found) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        var fd: Int32 = -1
        while let address = cursor {
            fd = socket(
                address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                address.pointee.ai_protocol)
            if fd >= 0 {
                if connectWithin(fd, address.pointee.ai_addr, address.pointee.ai_addrlen, timeout) { break }
                close(fd)
                fd = -1
            }
            cursor = address.pointee.ai_next
        }
        guard fd >= 0 else { throw DeliveryError("cannot connect to \(host):\(port)") }
        defer { close(fd) }
        let header =
            "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\nUser-Agent: sluice\r\n\r\n"
        let request = Array(header.utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw DeliveryError("sending to \(host):\(port) failed: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        while !answer.contains(10) && answer.count < 65536 {
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&probe, 1, left) > 0 else {
                throw DeliveryError("\(host):\(port) did not answer within \(Int(timeout)) s")
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            answer += chunk[0..<n]
        }
        let status = String(decoding: answer.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let code = status.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard (200..<300).contains(code) else {
            throw DeliveryError("\(url) answered '\(status.isEmpty ? "nothing" : status)'")
        }
    }

    private static func connectWithin(
        _ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t, _ timeout: Double
    ) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if connect(fd, address, length) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var probe = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&probe, 1, Int32(timeout * 1000)) > 0 else { return false }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0
    }
}

/// Why an event could not be delivered (it is tried again).
struct DeliveryError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
