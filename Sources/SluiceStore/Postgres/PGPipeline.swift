import CLibPQ

/// Queued writes (`PGConnection.sendWithNext`) sent with the statement after them: libpq's pipeline mode, all
/// of them and that statement in one round trip, one implicit transaction and one commit.
extension PGSession {
    /// Sends the queued writes on their own, now (one round trip, one transaction).
    public func sendQueued() throws {
        guard !connection.queued.isEmpty else { return }
        _ = try carryQueued(with: nil)
    }

    /// Runs the queued writes, then `sql`, in one round trip and one transaction. Nil when `sql` is still to be
    /// run on its own: it is of another planning kind, inside a transaction, or the queued writes turned out to
    /// have committed already (a retry after a lost reply finds their changes made). `meanwhile` runs once all
    /// is sent, before the replies are read.
    ///
    /// A queued write that fails takes `sql` with it (nothing commits) and is dropped, and its error is thrown;
    /// a failing `sql` leaves the queued writes queued, rolled back with it. After a lost connection both are
    /// kept, as may-have-committed: the retry that carries them again tells.
    func carryQueued(with sql: SQL?, meanwhile: (() -> Void)? = nil) throws -> PGResult? {
        let riders = connection.queued
        if let sql,
            PQtransactionStatus(pointer) != PQTRANS_IDLE || riders.contains(where: { $0.plansOnce != sql.plansOnce })
        {
            try sendQueued()
            return nil
        }
        let batch = riders + (sql.map { [$0] } ?? [])
        let outcomes: [Result<PGResult, DatabaseError>?]
        do {
            outcomes = try pipeline(batch, meanwhile: meanwhile)
        } catch let error as DatabaseError where error.kind == .connection {
            connection.queuedMaybeCommitted = riders.count
            throw error
        }
        for (index, outcome) in outcomes.enumerated() {
            guard case .failure(let error)? = outcome else { continue }
            if error.kind == .connection {
                connection.queuedMaybeCommitted = riders.count
                throw error
            }
            guard index < riders.count else { throw error }  // the queued writes were rolled back with it
            let maybe = connection.queuedMaybeCommitted
            if error.sqlState == "SL409" && index < maybe {
                // Its change is there already: the lost reply was of a commit. The rest goes again.
                connection.queued.removeFirst(maybe)
                connection.queuedMaybeCommitted = 0
                return connection.queued.isEmpty ? nil : try carryQueued(with: sql)  // `meanwhile` has run
            }
            connection.queued.removeFirst(riders.count)
            connection.queuedMaybeCommitted = 0
            throw error
        }
        connection.queued.removeFirst(riders.count)
        connection.queuedMaybeCommitted = 0
        guard sql != nil, case .success(let result)? = outcomes.last else { return nil }
        return result
    }

    /// Runs `sql` on its own, without the queued writes, in a pipeline of one so that `meanwhile` runs while the
    /// server works on it. Nil when a transaction is open (then `sql` is to be run as usual).
    func runAlone(_ sql: SQL, meanwhile: (() -> Void)?) throws -> PGResult? {
        guard PQtransactionStatus(pointer) == PQTRANS_IDLE else { return nil }
        let outcome = try pipeline([sql], meanwhile: meanwhile).first ?? nil  // nil: it did not run
        switch outcome {
        case .success(let result)?: return result
        case .failure(let error)?: throw error
        case nil: throw lost("a statement's result did not come")
        }
    }

    /// Sends `batch` as one pipeline ending in one Sync: each statement's result, or its error, or nil when an
    /// earlier one failed and it did not run. Throws when the round trip itself failed.
    private func pipeline(_ batch: [SQL], meanwhile: (() -> Void)?) throws -> [Result<PGResult, DatabaseError>?] {
        try usePlanMode(of: batch[0])
        var names: [String] = []
        for (index, sql) in batch.enumerated() {
            let statement = try prepared(sql)
            if index == batch.count - 1 { statement.executions += 1 } else { statement.rides += 1 }
            names.append(statement.name)
        }
        guard PQenterPipelineMode(pointer) == 1 else { throw lost("cannot enter pipeline mode") }
        var outcomes: [Result<PGResult, DatabaseError>?] = []
        do {
            for (sql, name) in zip(batch, names) {
                let sent = withCStringArray(sql.binds) { values in
                    PQsendQueryPrepared(pointer, name, Int32(sql.binds.count), values, nil, nil, 0)
                }
                guard sent == 1 else { throw lost("cannot send a statement") }
            }
            guard PQpipelineSync(pointer) == 1 else { throw lost("cannot send the pipeline's end") }  // and flushes
            meanwhile?()
            for _ in batch {
                guard let result = PQgetResult(pointer) else { throw lost("a statement's result did not come") }
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    outcomes.append(nil)
                } else {
                    do {
                        outcomes.append(.success(try consume(result)))
                    } catch let error as DatabaseError {
                        outcomes.append(.failure(error))
                    }
                }
                while let more = PQgetResult(pointer) { PQclear(more) }  // up to the NULL that ends its results
            }
            guard let sync = PQgetResult(pointer) else { throw lost("the pipeline's end did not come") }
            let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
            PQclear(sync)
            guard synced, PQexitPipelineMode(pointer) == 1 else { throw lost("the pipeline did not end") }
        } catch {
            // Whatever the server still sends belongs to a pipeline nobody reads: start a fresh session.
            if PQpipelineStatus(pointer) != PQ_PIPELINE_OFF { connection.mustReset = true }
            throw error
        }
        return outcomes
    }

    /// A lost round trip, with libpq's word for why.
    private func lost(_ what: String) -> DatabaseError {
        let detail = ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets)
        return DatabaseError(.connection, "\(what): \(detail)")
    }
}
