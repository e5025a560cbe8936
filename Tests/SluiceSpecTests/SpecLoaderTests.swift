import Foundation
import SluiceSpec
import Testing

@Suite("DAG files: the model and its diagnostics")
struct SpecLoaderTests {
    @Test func minimalDAGDecodesEveryField() throws {
        let spec = try load(
            """
            dag: churn_training
            description: features then train
            steps:
              features:
                command: python features.py --out data/features.csv
                workdir: ../examples/churn
                env: {PYTHONUNBUFFERED: "1", BRAND: no, SEED: 42}
              train:
                needs: [features]
                command: [python, train.py, --features, data/features.csv]
            """)
        #expect(spec.name == "churn_training")
        #expect(spec.description == "features then train")
        #expect(spec.steps.map(\.id) == ["features", "train"])
        #expect(spec.steps[0].command.templates.map(\.description) == ["python features.py --out data/features.csv"])
        #expect(
            spec.steps[1].command.templates.map(\.description) == [
                "python", "train.py", "--features", "data/features.csv",
            ])
        #expect(spec.steps[0].workdir?.description == "../examples/churn")
        #expect(
            spec.steps[0].env.map { "\($0.name)=\($0.value)" } == ["PYTHONUNBUFFERED=1", "BRAND=no", "SEED=42"])
        #expect(spec.steps[1].needs == ["features"])
        #expect(spec.baseDirectory == "/project/dags")
    }

    @Test func misspeltStepKeyGetsASuggestion() {
        #expect(
            diagnostics("dag: d\nsteps:\n  train:\n    comand: echo\n") == [
                "4:5: unknown key 'comand' in steps.train — did you mean 'command'?"
            ])
        // Really missing (no key that looks like it) is said as such.
        #expect(
            diagnostics("dag: d\nsteps:\n  train:\n    needs: []\n") == [
                "3:3: missing required key 'command' in steps.train"
            ])
    }

    @Test func misspeltTopLevelKeyGetsASuggestion() {
        #expect(
            diagnostics("dag: d\nstep:\n  a: {command: x}\n") == [
                "1:1: missing required key 'steps' (a mapping of step id to step)",
                "2:1: unknown key 'step' at the top level — did you mean 'steps'?",
            ])
    }

    @Test func unknownNeedPointsAtTheListItem() {
        #expect(
            diagnostics("dag: d\nsteps:\n  features: {command: x}\n  train:\n    needs: [featurs]\n    command: y\n")
                == [
                    "5:13: steps.train.needs[0]: unknown step 'featurs' — did you mean 'features'?"
                ])
    }

    @Test func cycleIsPrintedAsTheCycle() {
        let text = """
            dag: d
            steps:
              a: {command: x, needs: [c]}
              b: {command: x, needs: [a]}
              c: {command: x, needs: [b]}
            """
        #expect(diagnostics(text) == ["3:3: dependency cycle: a -> b -> c -> a"])
    }

    @Test func stepThatNeedsItselfIsACycle() {
        #expect(diagnostics("dag: d\nsteps:\n  a: {command: x, needs: [a]}\n") == ["3:3: dependency cycle: a -> a"])
    }

    @Test func duplicateStepIdsAreErrors() {
        #expect(
            diagnostics("dag: d\nsteps:\n  a: {command: x}\n  a: {command: y}\n") == [
                "4:3: duplicate key 'a' in steps (first defined at line 3)"
            ])
    }

    @Test func everyErrorIsReportedInSourceOrder() {
        let text = """
            dag: Not Valid
            colour: blue
            steps:
              a:
                command: {x: 1}
              b:
                command: echo
                needs: nope
            """
        #expect(
            diagnostics(text) == [
                "1:6: dag: 'Not Valid' is not a valid id: use lowercase letters, digits, '_' and '-', starting with a letter",
                "2:1: unknown key 'colour' at the top level",
                "5:14: steps.a.command: expected a string (run by /bin/sh -c) or a list of strings (exec'd directly), found a mapping",
                "8:12: steps.b.needs: expected a list of strings, found 'nope'",
            ])
    }

    @Test func commandMustNotBeEmptyOrNull() {
        #expect(
            diagnostics("dag: d\nsteps:\n  a: {command: '  '}\n  b:\n    command:\n") == [
                "3:16: steps.a.command: the command is empty",
                "5:13: steps.b.command: expected a string (run by /bin/sh -c) or a list of strings (exec'd directly), found null",
            ])
        #expect(
            diagnostics("dag: d\nsteps:\n  a: {command: []}\n") == [
                "3:16: steps.a.command: an argv command needs at least the program name"
            ])
    }

    @Test func topLevelMustBeAMapping() {
        #expect(
            diagnostics("- a\n- b\n") == ["1:1: the top level: expected a mapping with 'dag' and 'steps', found a list"]
        )
        #expect(diagnostics("") == ["1:1: the file is empty: expected a mapping with 'dag' and 'steps'"])
    }

    @Test func badIdentifiersAreRejected() {
        #expect(
            diagnostics("dag: d\nsteps:\n  9lives: {command: x, env: {'BAD-NAME': v}}\n") == [
                "3:3: steps.9lives: '9lives' is not a valid step id: use letters, digits, '_' and '-', starting with a letter or '_'",
                "3:30: steps.9lives.env: 'BAD-NAME' is not a valid environment variable name",
            ])
    }

    @Test func emptyStepsAreRejected() {
        #expect(diagnostics("dag: d\nsteps: {}\n") == ["2:8: steps: a DAG needs at least one step"])
    }

    @Test func yamlSyntaxErrorIsOneDiagnostic() {
        let found = diagnostics("dag: d\nsteps:\n  a: {command: [true,\n")
        #expect(found.count == 1)
        #expect(found.first?.contains("YAML syntax error") == true)
    }

    @Test func nonUTF8InputIsADiagnosticAtTheFirstBadByte() {
        let error = #expect(throws: SpecError.self) {
            try SpecLoader.parse(
                bytes: [0x64, 0x61, 0x67, 0x3a, 0x0a, 0x20, 0xff, 0xfe, 0x0a], file: "bad.yaml", baseDirectory: "/")
        }
        #expect(
            error?.diagnostics.map(\.description) == [
                "bad.yaml:2:2: not valid UTF-8 text (byte 6 is 0xff); save the DAG file as UTF-8"
            ])
    }

    @Test func missingFileAndDirectoryAreReadErrors() throws {
        let missing = #expect(throws: SpecReadError.self) { try SpecLoader.load(path: "/nonexistent/dag.yaml") }
        #expect(missing?.description == "/nonexistent/dag.yaml: no such file")
        let directory = #expect(throws: SpecReadError.self) { try SpecLoader.load(path: "/tmp") }
        #expect(directory?.description == "/tmp: is a directory, not a DAG file")
    }

    @Test func diagnosticsPrintAsFileLineColumn() throws {
        let error = #expect(throws: SpecError.self) { try load("dag: d\nsteps:\n  a: {comand: x}\n") }
        #expect(error?.description.hasPrefix("dag.yaml:3:7: unknown key 'comand'") == true)
    }
}
