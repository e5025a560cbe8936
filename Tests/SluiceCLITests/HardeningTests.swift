import Foundation
import SluiceBasics
import SluiceStore
import SluiceTestSupport
import Testing

/// The findings of the hostile test, each reproduced as it was reported and shown closed.
@Suite("End to end: no way in, no secret out, no hang on hostile files", .serialized)
struct HardeningTests {
    private func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    // MARK: 2. Log files never follow links; other users' state directories are refused.

    @Test func aLinkPlantedWhereALogGoesIsNotFollowed() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("x", "dag: x\nsteps:\n  a: {command: \"echo from-the-step\"}\n")
        #expect(try project.sluice("run", "dags/x.yaml").code == 0)
        let victim = try project.directory.write("victim.txt", "precious\n")
        let runDir = project.path + "/.sluice/logs/x/2"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        symlink(victim, runDir + "/a.1.out")
        let run = try project.sluice("run", "dags/x.yaml")
        #expect(run.code == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        var st = stat()
        #expect(lstat(runDir + "/a.1.out", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
        #expect(try String(contentsOfFile: runDir + "/a.1.out", encoding: .utf8) == "from-the-step\n")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the directory must belong to another user"))
    func aStateDirectoryOfAnotherUserOrWritableByOthersIsRefused() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("x", "dag: x\nsteps:\n  a: {command: \"touch ran\"}\n")
        let state = project.path + "/.sluice"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let nobody = try #require(UserIdentity.lookup("nobody"))
        chown(state, nobody.uid, nobody.gid)
        let refused = try project.sluice("run", "dags/x.yaml")
        #expect(refused.code == 3)
        #expect(
            refused.stderr.contains(
                "sluice: the state directory \(state) belongs to nobody (uid \(nobody.uid)), not to root (uid 0) who runs sluice"
            ), "\(refused.stderr)")
        chown(state, 0, 0)
        chmod(state, 0o777)
        let writable = try project.sluice("run", "dags/x.yaml")
        #expect(writable.code == 3)
        #expect(writable.stderr.contains("can be written by other users (mode 777); make it private with: chmod go-w"))
        #expect(!FileSystem.exists(project.path + "/dags/ran"))
    }

    // MARK: 3. A parameter cannot inject shell code, in a heredoc or anywhere else.

    @Test func aParameterCannotInjectThroughAHeredocOrALineBreak() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "heredoc",
            """
            dag: heredoc
            params:
              v: {type: string, default: x}
            steps:
              a:
                command: |
                  cat <<'EOF'
                  value: ${{ params.v }}
                  EOF
            """)
        let run = try project.sluice("run", "dags/heredoc.yaml", "--param", "v=$(touch pwned)")
        #expect(run.code == 2)
        #expect(run.stderr.contains("dags/heredoc.yaml:6:14: steps.a.command: ${{ params.v }} is inside a heredoc"))
        try project.dag(
            "echo",
            "dag: echo\nparams:\n  v: {type: string, default: x}\nsteps:\n  a: {command: \"echo ${{ params.v }}\"}\n")
        let broken = try project.sluice("run", "dags/echo.yaml", "--param", "v=a\nEOF\ntouch pwned")
        #expect(broken.code == 2)
        #expect(broken.stderr.contains("params.v has a value with a line break"))
        // Where quoting does protect a value, it arrives as one literal word.
        let quoted = try project.sluice("run", "dags/echo.yaml", "--param", "v=$(touch pwned); `touch pwned`")
        #expect(quoted.code == 0, "\(quoted.stderr)")
        #expect(!FileSystem.exists(project.path + "/dags/pwned") && !FileSystem.exists(project.path + "/pwned"))
    }

    // MARK: 4. Secrets reach neither steps nor records nor logs.

    @Test func theDatabasePasswordNeverReachesAStep() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "env",
            """
            dag: env
            steps:
              a: {command: "env > ../env.txt; P=$PPID; while tr '\\\\0' ' ' < /proc/$P/cmdline | grep -q sluice-shim; do P=$(cut -d' ' -f4 /proc/$P/stat); done; tr '\\\\0' ' ' < /proc/$P/cmdline > ../cmdline.txt"}
            """)
        let result = try SluiceBinary.run(
            ["run", "dags/env.yaml", "--database-url", project.databaseURL + " password=hunter2secret"],
            in: project.path, env: ["PGPASSWORD": "pg-env-secret", "SLUICE_DATABASE_URL": ""])
        #expect(result.code == 0, "\(result.stderr)")
        let environment = try String(contentsOfFile: project.path + "/env.txt", encoding: .utf8)
        #expect(!environment.contains("pg-env-secret") && !environment.contains("PGPASSWORD"))
        let commandLine = try String(contentsOfFile: project.path + "/cmdline.txt", encoding: .utf8)
        #expect(commandLine.contains("--database-url"))
        #expect(!commandLine.contains("hunter2secret"), "\(commandLine)")
    }

    @Test func secretsComeFromTheEnvironmentOrAFileAndAreMaskedEverywhere() throws {
        let project = try Project()
        defer { project.remove() }
        try project.directory.write("dags/token.txt", "file-secret-value\n")
        try project.dag(
            "secret",
            """
            dag: secret
            steps:
              a:
                command: "echo token=$TOKEN key=$KEY; echo $TOKEN >&2"
                env:
                  TOKEN: {from_env: MY_TOKEN}
                  KEY: {from_file: token.txt}
            """)
        let plan = try project.sluice("plan", "dags/secret.yaml")
        #expect(plan.stdout.contains("env: TOKEN=<secret from_env MY_TOKEN>"))
        #expect(plan.stdout.contains("env: KEY=<secret from_file \(project.path)/dags/token.txt>"))
        let missing = try project.sluice("run", "dags/secret.yaml")
        #expect(missing.code == 2)
        #expect(
            missing.stderr.contains(
                "steps.a.env.TOKEN takes its value from_env MY_TOKEN, but sluice's environment has no MY_TOKEN"))
        let run = try SluiceBinary.run(
            ["run", "dags/secret.yaml"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL, "MY_TOKEN": "env-secret-value"])
        #expect(run.code == 0, "\(run.stderr)")
        let out = try String(contentsOfFile: project.path + "/.sluice/logs/secret/1/a.1.out", encoding: .utf8)
        #expect(out == "token=*** key=***\n")
        let err = try String(contentsOfFile: project.path + "/.sluice/logs/secret/1/a.1.err", encoding: .utf8)
        #expect(err == "***\n")
        let show = try project.sluice("runs", "show", "latest", "--json")
        #expect(!show.stdout.contains("secret-value"))
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: steps switch users"))
    func asRootStepsRunAsTheConfiguredUserAndRootMustBeExplicit() throws {
        let project = try Project()
        defer { project.remove() }
        let shared = try TempDirectory("sluice-shared")
        defer { shared.remove() }
        chmod(shared.path, 0o777)
        try project.dag(
            "who",
            """
            dag: who
            steps:
              a: {command: "id -u > \(shared.path)/uid; echo k=v >> $SLUICE_OUTPUT"}
              b: {command: "echo ${{ steps.a.outputs.k }}", needs: [a]}
            """)
        let refused = try SluiceBinary.run(
            ["run", "dags/who.yaml"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL, "SLUICE_RUN_AS": ""])
        #expect(refused.code == 2)
        #expect(refused.stderr.contains("sluice runs as root, and steps would run as root too: set run_as"))
        let doctor = try SluiceBinary.run(
            ["doctor"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL, "SLUICE_RUN_AS": "root"])
        #expect(doctor.stdout.contains("WARNING:     steps run as root"))

        try project.directory.write("sluice.yaml", "run_as: nobody\n")
        let run = try SluiceBinary.run(
            ["run", "dags/who.yaml"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL, "SLUICE_RUN_AS": ""])
        #expect(run.code == 0, "\(run.stdout)\(run.stderr)")
        let nobody = try #require(UserIdentity.lookup("nobody"))
        #expect(try String(contentsOfFile: shared.path + "/uid", encoding: .utf8) == "\(nobody.uid)\n")
        #expect(try String(contentsOfFile: project.path + "/.sluice/logs/who/1/b.1.out", encoding: .utf8) == "v\n")
        // The step's private output directory is gone once it was read.
        #expect(
            (try FileManager.default.contentsOfDirectory(atPath: "/tmp")).filter { $0.hasPrefix("sluice-output-") }
                .allSatisfy { dir in !FileSystem.exists("/tmp/\(dir)/output") || mode("/tmp/\(dir)") == 0o700 })
    }

    // MARK: 5. Special files are refused, never read without bound, never waited on.

    @Test func devicesAndFIFOsAreRefusedBeforeAnythingIsRead() throws {
        let project = try Project()
        defer { project.remove() }
        let zero = try project.sluice("validate", "/dev/zero")
        #expect(zero.code == 3)
        #expect(zero.stderr.contains("sluice: /dev/zero: is a character device, not a regular file"))
        try project.dag("inc", "dag: inc\ninclude: [/dev/urandom]\nsteps:\n  a: {command: \"true\"}\n")
        let include = try project.sluice("validate", "dags/inc.yaml")
        #expect(include.code == 1)
        #expect(include.stderr.contains("include[0].file: cannot read '/dev/urandom': is a character device"))
        mkfifo(project.path + "/dags/fifo.yaml", 0o644)
        let fifo = try project.sluice("run", "dags/fifo.yaml")
        #expect(fifo.code == 3)
        #expect(fifo.stderr.contains("is a FIFO (named pipe), not a regular file"))
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a link made by another user"))
    func asRootALinkAnotherUserMadeToAFileNotTheirsIsNotFollowed() throws {
        let served = ServedProject(try Project())
        defer { served.remove() }
        let secret = try served.project.directory.write("secret.yaml", "topsecret: hunter2hash\n")
        chmod(secret, 0o600)
        let nobody = try #require(UserIdentity.lookup("nobody"))
        try FileSystem.makeDirectory(served.path + "/dags")
        // A DAG, and a template include, each a link made by nobody to root's private file.
        symlink(secret, served.path + "/dags/evil.yaml")
        lchown(served.path + "/dags/evil.yaml", nobody.uid, nobody.gid)
        symlink(secret, served.path + "/part.yaml")
        lchown(served.path + "/part.yaml", nobody.uid, nobody.gid)
        try served.project.dag("inc", "dag: inc\ninclude: [../part.yaml]\nsteps:\n  a: {command: \"true\"}\n")
        let reason =
            "is a link made by nobody (uid \(nobody.uid)) to a file of root (uid 0); Sluice runs as root and does not follow it"
        let direct = try served.sluice("validate", "dags/evil.yaml")
        #expect(direct.code == 3)
        #expect(direct.stderr.contains("dags/evil.yaml \(reason)"), "\(direct.stderr)")
        let included = try served.sluice("validate", "dags/inc.yaml")
        #expect(included.code == 1)
        #expect(included.stderr.contains("part.yaml \(reason)"), "\(included.stderr)")
        let once = try served.sluice("serve", "--once")
        let status = try served.sluice("status")
        for output in [direct.stdout, direct.stderr, included.stderr, once.stderr, status.stdout] {
            #expect(!output.contains("hunter2hash"))
        }
        #expect(status.stdout.contains("dags/evil.yaml \(reason)"), "\(status.stdout)")
        // A link its maker owns the target of is followed, as before.
        let own = try served.project.directory.write("own.yaml", "dag: own\nsteps:\n  a: {command: \"true\"}\n")
        chown(own, nobody.uid, nobody.gid)
        symlink(own, served.path + "/dags/own.yaml")
        lchown(served.path + "/dags/own.yaml", nobody.uid, nobody.gid)
        #expect(try served.sluice("validate", "dags/own.yaml").code == 0)
    }

    // MARK: 6. A full disk fails the attempt and names the disk; a database that cannot write loses nothing.

    @Test(.enabled(if: geteuid() == 0, "needs root: mounts a small tmpfs"))
    func aFullDiskFailsTheAttemptAndSaysWhichDisk() throws {
        let project = try Project()
        defer { project.remove() }
        let disk = project.path + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try SluiceBinary.runProgram(
            ["/bin/mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", disk], in: project.path)
        try #require(mount.code == 0, "\(mount.stderr)")
        defer { _ = try? SluiceBinary.runProgram(["/bin/umount", "-l", disk], in: project.path) }

        try project.dag("loud", "dag: loud\nsteps:\n  a: {command: \"head -c 3000000 /dev/zero | tr '\\\\0' x\"}\n")
        let loud = try project.sluice("run", "dags/loud.yaml", "--state-dir", disk, "--json")
        #expect(loud.code == 1)
        let attempt = try #require((try loud.json()["attempts"] as? [[String: Any]])?.first)
        let message = attempt["message"] as? String ?? ""
        #expect(attempt["exit_code"] as? Int == 0)
        #expect(
            message.hasPrefix(
                "step a exited 0, but its log \(disk)/logs/loud/1/a.1.out could not be written (No space left on device)"
            ), "\(message)")
        // The disk, by path, and its free space (what the record of the ending itself freed, a block or so).
        #expect(message.contains("the disk of \(disk)/logs/loud/1 is full ("), "\(message)")
        #expect(message.contains(" free of 1.0 MiB)"), "\(message)")

        try FileManager.default.removeItem(atPath: disk + "/logs")
        try project.dag(
            "rows",
            """
            dag: rows
            steps:
              b: {command: "head -c 3000000 /dev/zero > $SLUICE_OUTPUT.fill; echo rows=10 >> $SLUICE_OUTPUT; exit 0"}
              c: {command: "echo ${{ steps.b.outputs.rows }}", needs: [b]}
            """)
        let rows = try project.sluice("run", "dags/rows.yaml", "--state-dir", disk, "--json")
        #expect(rows.code == 1)
        let steps = try #require(try rows.json()["steps"] as? [[String: Any]])
        #expect(steps.map { $0["state"] as? String } == ["failed", "upstream_failed"])
        let why = steps.first?["message"] as? String ?? ""
        #expect(why.contains("the disk of \(disk)/logs/rows/2 is full"), "\(why)")
        #expect(!why.contains("wrote no"))
    }

    @Test func aDatabaseThatStopsTakingWritesMidRunLosesNothing() throws {
        let project = try Project()
        defer { project.remove() }
        let database = try PGConnection(conninfo: project.databaseURL)
        let name = try #require(try database.query("SELECT current_database() AS d").rows.first?["d"])
        try project.dag(
            "outage",
            """
            dag: outage
            steps:
              a:
                command: >-
                  psql "$DB" -qAt -c "ALTER DATABASE \(name) SET default_transaction_read_only = on"
                  -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                env: {DB: "\(project.databaseURL)"}
              b: {command: "echo after", needs: [a]}
            """)
        let live = try SluiceBinary.start(
            ["run", "dags/outage.yaml"], in: project.path, env: ["SLUICE_DATABASE_URL": project.databaseURL])
        let notice = live.waitForLine { $0.contains("cannot record") }
        #expect(notice?.contains("retrying until the database is back") == true, "\(live.transcript)")
        let admin = try PGConnection(conninfo: project.databaseURL)
        try admin.withSession {
            try $0.script("SET default_transaction_read_only = off")
            try $0.script("ALTER DATABASE \(name) RESET default_transaction_read_only")
        }
        try admin.query(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        #expect(live.finish() == 0, "\(live.transcript)")
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        #expect((show["run"] as? [String: Any])?["state"] as? String == "succeeded")
        let steps = try #require(show["steps"] as? [[String: Any]])
        #expect(steps.map { $0["state"] as? String } == ["succeeded", "succeeded"])
        #expect(steps.map { $0["attempts"] as? Int } == [1, 1])
    }

    // MARK: 7. Handlers stop at their timeout and on a signal.

    @Test func aHangingHandlerIsStoppedAtItsTimeoutAndByASignal() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "hang",
            """
            dag: hang
            steps:
              a: {command: "exit 1"}
            on_failure:
              - {command: "sleep 1000", timeout: 1s}
              - {command: "echo second"}
            """)
        let timed = try project.sluice("run", "dags/hang.yaml", "--grace-period", "1")
        #expect(timed.code == 1)
        let show = try project.sluice("runs", "show", "latest", "--json").json()
        let handlers = try #require(show["handlers"] as? [[String: Any]])
        #expect(handlers.map { $0["state"] as? String } == ["failed", "succeeded"])
        let message = handlers.first?["message"] as? String ?? ""
        #expect(
            message.hasPrefix("handler on_failure[0] timed out after 1s and was stopped with SIGTERM"), "\(message)")
        let marker = "sluice-handler-\(UUID().uuidString)"
        try project.dag(
            "hang2",
            """
            dag: hang2
            steps:
              a: {command: "exit 1"}
            on_failure:
              - {command: "sleep 1000; echo \(marker)"}
            """)
        let live = try SluiceBinary.start(
            ["run", "dags/hang2.yaml", "--grace-period", "1"], in: project.path,
            env: ["SLUICE_DATABASE_URL": project.databaseURL])
        #expect(Waiting.until { !processes(withCommandLineContaining: marker).isEmpty })
        kill(live.process.pid, SIGTERM)
        #expect(live.finish() == 130, "\(live.transcript)")
        #expect(Waiting.until(timeout: 10) { processes(withCommandLineContaining: marker).isEmpty })
    }

    // MARK: 8. Logs are private under a permissive umask.

    @Test func logsArePrivateUnlessConfiguredOtherwise() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag("x", "dag: x\nsteps:\n  a: {command: \"echo hi; echo there >&2\"}\n")
        let old = umask(0o022)
        defer { umask(old) }
        #expect(try project.sluice("run", "dags/x.yaml").code == 0)
        let logs = project.path + "/.sluice/logs"
        #expect(mode(project.path + "/.sluice") == 0o700)
        #expect(mode(logs + "/x") == 0o700)
        #expect(mode(logs + "/x/1") == 0o700)
        #expect(mode(logs + "/x/1/a.1.out") == 0o600)
        #expect(mode(logs + "/x/1/a.1.err") == 0o600)
        try project.directory.write("sluice.yaml", "log_permissions: group\n")
        #expect(try project.sluice("run", "dags/x.yaml").code == 0)
        #expect(mode(logs + "/x/2") == 0o750)
        #expect(mode(logs + "/x/2/a.1.out") == 0o640)
    }

    // MARK: 9. Nothing of a password in errors; no control character reaches the terminal.

    @Test func aMalformedURLShowsNoPartOfThePasswordAndNoSocket() throws {
        let project = try Project()
        defer { project.remove() }
        let result = try project.sluice("status", "--database-url", "host=/tmp password=xyzzy plugh dbname=x")
        #expect(result.code == 4)
        #expect(!result.stderr.contains("xyzzy") && !result.stderr.contains("plugh"))
        #expect(!result.stderr.contains("socket"))
        #expect(result.stderr.contains("the database URL is not a libpq connection string or URI that parses"))
    }

    @Test func controlCharactersInItemsAndParametersAreEscaped() throws {
        let project = try Project()
        defer { project.remove() }
        try project.dag(
            "esc",
            """
            dag: esc
            params:
              brands: {type: list, default: ["ah"]}
            steps:
              a:
                foreach: ${{ params.brands }}
                command: "true"
            """)
        let brand = "x\u{1B}]0;owned\u{07}\u{1B}[2J"
        let plan = try project.sluice("plan", "dags/esc.yaml", "--param", "brands=\(brand)")
        #expect(plan.code == 0, "\(plan.stderr)")
        #expect(!plan.stdout.contains("\u{1B}"))
        #expect(plan.stdout.contains("a[x\\x1b]0;owned\\x07\\x1b[2J]"))
        let run = try project.sluice("run", "dags/esc.yaml", "--param", "brands=\(brand)")
        #expect(run.code == 0, "\(run.stderr)")
        #expect(!run.stdout.contains("\u{1B}") && !run.stderr.contains("\u{1B}"))
        let show = try project.sluice("runs", "show", "latest")
        #expect(!show.stdout.contains("\u{1B}"))
        #expect(show.stdout.contains("\\x1b"))
    }
}
