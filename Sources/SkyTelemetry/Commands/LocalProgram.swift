import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a site-local program (the telescope control software's hook) with bounded time.
///
/// Standard input and error go through temporary files, not pipes, so a program that never
/// reads its input or writes a lot cannot block us; it runs in its own process group so a
/// timeout kills whatever it started too.
enum LocalProgram {
    enum Result: Equatable {
        case exited(Int32, firstErrorLine: String)
        case timedOut
        case failedToStart(String)
    }

    static func run(_ program: String, input: [UInt8], timeout: Double) -> Result {
        let tmp = FileManager.default.temporaryDirectory
        let inURL = tmp.appendingPathComponent("skyedge-cmd-\(UUID().uuidString).json")
        let errURL = tmp.appendingPathComponent("skyedge-cmd-\(UUID().uuidString).err")
        defer { unlink(inURL.path); unlink(errURL.path) }
        guard FileManager.default.createFile(atPath: inURL.path, contents: Data(input)) else {
            return .failedToStart("cannot write \(inURL.path)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inURL.path, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(program), nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        guard rc == 0 else { return .failedToStart(String(cString: strerror(rc))) }
        let deadline = Date(timeIntervalSinceNow: timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return .failedToStart("waitpid: \(String(cString: strerror(errno)))") }
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return .timedOut
            }
            usleep(10_000)
        }
        // Exit status, or 128 + signal as a shell would say.
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let errText = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        let first = errText.split(separator: "\n").first.map { String($0.prefix(200)) } ?? ""
        return .exited(code, firstErrorLine: first)
    }
}
