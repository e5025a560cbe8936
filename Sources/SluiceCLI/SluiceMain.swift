import ArgumentParser
import Foundation
import SluiceBasics
import SluiceEngine
import SluiceSpec
import SluiceStore

/// The entry point the `sluice` executable calls.
public enum SluiceMain {
    /// Parses the command line, runs the command and exits with its documented code.
    public static func main() -> Never {
        let arguments = Array(CommandLine.arguments.dropFirst())
        ArgvScrub.hideDatabasePasswords()
        do {
            var command = try SluiceCommand.parseAsRoot(arguments)
            try command.run()
            exit(ExitCodes.success)
        } catch let exitWith as ExitWith {
            exit(exitWith.code)
        } catch {
            if let (message, code) = describe(error) {
                Terminal.printError(message)
                exit(code)
            }
            let code = SluiceCommand.exitCode(for: error).rawValue
            if code == ExitCode.success.rawValue {
                SluiceCommand.exit(withError: error)
            }
            Terminal.printError(SluiceCommand.fullMessage(for: error))
            exit(code == ExitCode.validationFailure.rawValue ? ExitCodes.usage : code)
        }
    }

    /// The message and exit code for Sluice's own errors; nil for argument-parser errors.
    static func describe(_ error: Error) -> (String, Int32)? {
        switch error {
        case let failure as CLIFailure: return ("sluice: \(failure.description)", failure.exitCode)
        case let spec as SpecError: return (spec.description, ExitCodes.invalidDAG)
        case let plan as PlanError:
            return (plan.messages.map { "sluice: \($0)" }.joined(separator: "\n"), ExitCodes.invalidDAG)
        case let read as SpecReadError: return ("sluice: \(read.description)", ExitCodes.unreadable)
        case let database as DatabaseError: return ("sluice: \(database.message)", ExitCodes.database)
        case let system as SystemError: return ("sluice: \(system.description)", ExitCodes.failed)
        case let conflict as StateConflict: return ("sluice: \(conflict.description)", ExitCodes.database)
        case let interrupted as Interrupted: return ("sluice: \(interrupted.description)", ExitCodes.interrupted)
        case let state as StateDirectoryError: return ("sluice: \(state.description)", ExitCodes.unreadable)
        case let user as StepUserError: return ("sluice: \(user.description)", ExitCodes.invalidDAG)
        default: return nil
        }
    }
}
