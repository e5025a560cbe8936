/// The JSON Schema (draft 2020-12) of a DAG file, built from the same key lists the validator uses.
public enum DAGSchema {
    /// Where the committed copy lives in the repository, for yaml-language-server.
    public static let id = "https://sluice.invalid/schema/dag.schema.json"

    private static func ref(_ name: String) -> JSONValue { .object([("$ref", .string("#/$defs/\(name)"))]) }
    private static func s(_ text: String) -> JSONValue { .string(text) }
    private static func obj(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(pairs) }
    private static func int(min: Int, max: Int? = nil) -> JSONValue {
        obj(
            [("type", s("integer")), ("minimum", .number(Double(min)))]
                + (max.map { [("maximum", .number(Double($0)))] } ?? []))
    }

    /// Scalars other than null: YAML's plain `42` or `no` reads as a string where the language expects one.
    private static let scalar = obj([("type", .array([s("string"), s("number"), s("boolean")]))])
    private static let stringList = obj([("type", s("array")), ("items", scalar)])

    /// An object whose properties are exactly `keys`, each described and typed by `types`.
    private static func object(_ keys: [KeyDoc], _ types: [String: JSONValue], required: [String] = []) -> JSONValue {
        let properties: [(String, JSONValue)] = keys.map { key in
            guard case .object(let pairs)? = types[key.name] else {
                preconditionFailure("no schema for key \(key.name)")
            }
            return (key.name, .object([("description", .string(key.summary))] + pairs))
        }
        var pairs: [(String, JSONValue)] = [("type", s("object")), ("properties", .object(properties))]
        if !required.isEmpty { pairs.append(("required", .array(required.map(s)))) }
        pairs.append(("additionalProperties", .bool(false)))
        return .object(pairs)
    }

    private static var stepTypes: [String: JSONValue] {
        [
            "command": ref("command"), "needs": obj([("type", s("array")), ("items", ref("stepId"))]),
            "description": scalar, "kind": obj([("enum", .array(StepKind.allCases.map { s($0.rawValue) }))]),
            "when": obj([("type", .array([s("string"), s("boolean")])), ("minLength", .number(1))]),
            "foreach": obj([
                (
                    "oneOf",
                    .array([
                        obj([("type", s("array")), ("items", scalar), ("uniqueItems", .bool(true))]),
                        obj([
                            ("type", s("string")),
                            ("pattern", s("^\\$\\{\\{\\s*params\\.[A-Za-z_][A-Za-z0-9_]*\\s*\\}\\}$")),
                        ]),
                    ])
                )
            ]),
            "env": ref("env"),
            "workdir": obj([("type", .array([s("string"), s("number")])), ("minLength", .number(1))]),
            "retries": ref("retries"), "timeout": ref("duration"), "resources": ref("resources"),
            "inputs": obj([("type", s("array")), ("items", ref("data"))]),
            "outputs": obj([("type", s("array")), ("items", ref("data"))]), "tags": ref("tags"),
            "executor": obj([("enum", .array(ExecutorKind.allCases.map { s($0.rawValue) }))]),
            "cache": obj([("type", s("boolean"))]),
        ]
    }

    /// The schema document.
    public static var document: JSONValue {
        let defs: [(String, JSONValue)] = [
            (
                "stepId",
                obj([("type", s("string")), ("pattern", s("^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z_][A-Za-z0-9_-]*)?$"))])
            ),
            (
                "duration",
                obj([
                    ("type", s("string")), ("pattern", s("^(?=.*[1-9])([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$")),
                    ("minLength", .number(2)), ("examples", .array([s("30s"), s("10m"), s("2h"), s("1d")])),
                ])
            ),
            (
                "memory",
                obj([
                    ("type", s("string")), ("pattern", s("^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(Ki|Mi|Gi|Ti|K|M|G|T)$")),
                    ("examples", .array([s("512Mi"), s("4Gi")])),
                ])
            ),
            (
                "command",
                obj([
                    (
                        "oneOf",
                        .array([
                            obj([("type", s("string")), ("pattern", s("\\S"))]),
                            obj([("type", s("array")), ("items", scalar), ("minItems", .number(1))]),
                        ])
                    )
                ])
            ),
            (
                "env",
                obj([
                    ("type", s("object")),
                    ("propertyNames", obj([("pattern", s("^(?!SLUICE_)[A-Za-z_][A-Za-z0-9_]*$"))])),
                    (
                        "additionalProperties",
                        obj([
                            (
                                "oneOf",
                                .array([
                                    scalar,
                                    obj([
                                        ("type", s("object")),
                                        (
                                            "properties",
                                            obj([
                                                (
                                                    "from_env",
                                                    obj([
                                                        ("type", s("string")),
                                                        ("pattern", s("^[A-Za-z_][A-Za-z0-9_]*$")),
                                                    ])
                                                ),
                                                ("from_file", obj([("type", s("string")), ("minLength", .number(1))])),
                                            ])
                                        ),
                                        ("minProperties", .number(1)),
                                        ("maxProperties", .number(1)),
                                        ("additionalProperties", .bool(false)),
                                    ]),
                                ])
                            )
                        ])
                    ),
                ])
            ),
            (
                "tags",
                obj([
                    ("type", s("object")), ("propertyNames", obj([("pattern", s("^[a-z][a-z0-9_./-]*$"))])),
                    ("additionalProperties", scalar),
                ])
            ),
            (
                "resources",
                object(
                    Vocabulary.resources,
                    [
                        "cpus": obj([("type", s("number")), ("exclusiveMinimum", .number(0))]), "memory": ref("memory"),
                        "gpus": int(min: 0), "max_processes": int(min: 1), "max_open_files": int(min: 3),
                    ])
            ),
            (
                "retries",
                obj([
                    (
                        "oneOf",
                        .array([
                            int(min: 0, max: 100),
                            object(
                                Vocabulary.retries,
                                [
                                    "attempts": int(min: 1, max: 100), "backoff": ref("duration"),
                                    "max_backoff": ref("duration"),
                                    "on": obj([
                                        ("type", s("array")),
                                        (
                                            "items",
                                            obj([
                                                ("type", s("string")),
                                                (
                                                    "pattern",
                                                    s(
                                                        "^(exit(:([1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5]))?|killed|oom_killed|timed_out|failed_to_start)$"
                                                    )
                                                ),
                                            ])
                                        ),
                                    ]),
                                ]),
                        ])
                    )
                ])
            ),
            (
                "data",
                obj([
                    (
                        "oneOf",
                        .array([
                            obj([("type", s("string")), ("minLength", .number(1))]),
                            obj(
                                [
                                    (
                                        "oneOf",
                                        .array([
                                            obj([("required", .array([s("path")]))]),
                                            obj([("required", .array([s("uri")]))]),
                                        ])
                                    ),
                                    (
                                        "if", obj([("required", .array([s("uri")]))])
                                    ),
                                    (
                                        "then",
                                        obj([("properties", obj([("version", obj([("const", s("from_step"))]))]))])
                                    ),
                                ]
                                    + {
                                        guard
                                            case .object(let pairs) = object(
                                                Vocabulary.data,
                                                [
                                                    "path": obj([("type", s("string")), ("minLength", .number(1))]),
                                                    "uri": obj([
                                                        ("type", s("string")), ("pattern", s("^[a-z][a-z0-9+.-]*://")),
                                                    ]),
                                                    "dataset": obj([
                                                        ("type", s("string")), ("pattern", s("^[a-z][a-z0-9_./-]*$")),
                                                    ]),
                                                    "version": obj([
                                                        ("enum", .array(VersionSource.allCases.map { s($0.rawValue) }))
                                                    ]),
                                                ])
                                        else { return [] }
                                        return pairs
                                    }()),
                        ])
                    )
                ])
            ),
            ("step", object(Vocabulary.step, stepTypes, required: ["command"])),
            ("defaults", object(Vocabulary.defaults, stepTypes)),
            ("param", paramSchema),
            (
                "paramKeys",
                object(
                    Vocabulary.param,
                    [
                        "type": obj([("enum", .array(ParamType.allCases.map { s($0.rawValue) }))]),
                        "default": obj([("type", .array([s("string"), s("number"), s("boolean"), s("array")]))]),
                        "enum": obj([("type", s("array")), ("items", scalar), ("minItems", .number(1))]), "min": scalar,
                        "max": scalar, "description": scalar,
                    ], required: ["type"])
            ),
            (
                "include",
                obj([
                    (
                        "oneOf",
                        .array([
                            obj([("type", s("string")), ("minLength", .number(1))]),
                            object(
                                Vocabulary.include,
                                [
                                    "file": obj([("type", s("string")), ("minLength", .number(1))]),
                                    "as": obj([("type", s("string")), ("pattern", s("^[A-Za-z_][A-Za-z0-9_-]*$"))]),
                                    "params": obj([
                                        ("type", s("object")),
                                        (
                                            "additionalProperties",
                                            obj([
                                                ("type", .array([s("string"), s("number"), s("boolean"), s("array")]))
                                            ])
                                        ),
                                    ]),
                                ], required: ["file"]),
                        ])
                    )
                ])
            ),
            (
                "handler",
                object(
                    Vocabulary.handler,
                    [
                        "command": ref("command"), "env": ref("env"),
                        "workdir": obj([("type", s("string")), ("minLength", .number(1))]),
                        "timeout": ref("duration"),
                    ],
                    required: ["command"])
            ),
        ]
        var top = object(
            Vocabulary.dag,
            [
                "dag": obj([("type", s("string")), ("pattern", s("^[a-z][a-z0-9_-]*$"))]), "description": scalar,
                "owner": obj([("type", s("string")), ("minLength", .number(1))]), "tags": ref("tags"),
                "schedule": obj([
                    ("type", s("string")),
                    ("pattern", s("^(@(hourly|daily|midnight|weekly|monthly|yearly|annually)|\\S+(\\s+\\S+){4})\\s*$")),
                ]),
                "timezone": obj([("type", s("string")), ("minLength", .number(1))]),
                "catchup": obj([("type", s("boolean"))]),
                "cache": obj([("type", s("boolean"))]),
                "max_active_runs": int(min: 1, max: 1000),
                "params": obj([
                    ("type", s("object")), ("propertyNames", obj([("pattern", s("^[A-Za-z_][A-Za-z0-9_]*$"))])),
                    ("additionalProperties", ref("param")),
                ]),
                "defaults": ref("defaults"), "include": obj([("type", s("array")), ("items", ref("include"))]),
                "steps": obj([
                    ("type", s("object")), ("minProperties", .number(1)),
                    ("propertyNames", obj([("pattern", s("^[A-Za-z_][A-Za-z0-9_-]*$"))])),
                    ("additionalProperties", ref("step")),
                ]),
                "on_failure": obj([("type", s("array")), ("items", ref("handler"))]),
                "on_success": obj([("type", s("array")), ("items", ref("handler"))]),
                "executor": obj([("enum", .array(ExecutorKind.allCases.map { s($0.rawValue) }))]),
            ], required: ["dag", "steps"])
        if case .object(let pairs) = top {
            top = .object(pairs + [("dependentRequired", obj([("timezone", .array([s("schedule")]))]))])
        }
        guard case .object(let topPairs) = top else { return top }
        return .object(
            [
                ("$schema", s("https://json-schema.org/draft/2020-12/schema")), ("$id", s(id)),
                ("title", s("Sluice DAG file")),
                ("description", s("One pipeline: a DAG of steps. Reference: docs/dag-reference.md")),
            ] + topPairs + [("$defs", .object(defs))])
    }

    /// A parameter: its keys, and for each type what its default, enum, min and max must look like.
    private static var paramSchema: JSONValue {
        let date = obj([("type", s("string")), ("pattern", s("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))])
        let none = obj([("not", obj([]))])
        func rule(_ type: ParamType, value: JSONValue, ordered: Bool, enumerable: Bool) -> JSONValue {
            obj([
                ("if", obj([("properties", obj([("type", obj([("const", s(type.rawValue))]))]))])),
                (
                    "then",
                    obj([
                        (
                            "properties",
                            obj([
                                ("default", value),
                                ("enum", enumerable ? obj([("type", s("array")), ("items", value)]) : none),
                                ("min", ordered ? value : none), ("max", ordered ? value : none),
                            ])
                        )
                    ])
                ),
            ])
        }
        let rules: [JSONValue] = [
            rule(.string, value: scalar, ordered: false, enumerable: true),
            rule(
                .path, value: obj([("type", .array([s("string"), s("number")])), ("minLength", .number(1))]),
                ordered: false, enumerable: true),
            rule(.int, value: obj([("type", s("integer"))]), ordered: true, enumerable: true),
            rule(.float, value: obj([("type", s("number"))]), ordered: true, enumerable: true),
            rule(.bool, value: obj([("type", s("boolean"))]), ordered: false, enumerable: false),
            rule(.date, value: date, ordered: true, enumerable: true),
            rule(.list, value: obj([("type", s("array")), ("items", scalar)]), ordered: false, enumerable: false),
        ]
        return obj([("allOf", .array([ref("paramKeys")] + rules))])
    }

    /// A YAML tree as JSON with YAML 1.2 core typing (plain `true`/`42`/`null` typed, everything else a string).
    public static func instance(_ node: YAMLNode) -> JSONValue {
        switch node.content {
        case .scalar(let text, let style):
            guard style == .plain, node.tag == nil else { return .string(text) }
            if node.isNull { return .null }
            if text == "true" || text == "True" || text == "TRUE" { return .bool(true) }
            if text == "false" || text == "False" || text == "FALSE" { return .bool(false) }
            if ParamSpec.isInteger(text), let value = Double(text) { return .number(value) }
            if let value = ParamSpec.value(text, as: .float)?.number { return .number(value) }
            return .string(text)
        case .sequence(let items): return .array(items.map(instance))
        case .mapping(let pairs):
            return .object(
                pairs.map { pair in
                    if case .scalar(let key, _) = pair.key.content { return (key, instance(pair.value)) }
                    return ("?", instance(pair.value))
                })
        }
    }

    /// Parses a file's bytes into its JSON instance, for checking against the schema with other tools.
    public static func instance(bytes: [UInt8], file: String) throws -> JSONValue {
        switch SpecLoader.parseTree(bytes: bytes, file: file) {
        case .success(let root): return instance(root)
        case .failure(let error): throw error
        }
    }
}
