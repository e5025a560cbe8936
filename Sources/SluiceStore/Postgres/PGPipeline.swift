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
        let sent = connection.sentAhead
        if sent > 0 {
            // The open pipeline takes only statements of its planning kind (the setting cannot change in it):
            // otherwise it is closed with what it carries, and the rest goes as it would have.
            let kind = connection.queued[0].plansOnce
            let rest = connection.queued[sent...] + (sql.map { [$0] } ?? [])
            if rest.contains(where: { $0.plansOnce != kind }) {
                _ = try settle(riders: sent, with: nil, meanwhile: nil)
                return connection.queued.isEmpty && sql == nil
                    ? nil : try carryQueued(with: sql, meanwhile: meanwhile)
            }
        } else if let sql,
            PQtransactionStatus(pointer) != PQTRANS_IDLE
                || connection.queued.contains(where: { $0.plansOnce != sql.plansOnce })
        {
            try sendQueued()
            return nil
        }
        return try settle(riders: connection.queued.count, with: sql, meanwhile: meanwhile)
    }

    /// Runs the first `riders` queued writes, then `sql`, as one pipeline (the writes sent ahead are in it
    /// already), and keeps the queue's books: what committed leaves it, what failed is dropped or kept.
    private func settle(riders count: Int, with sql: SQL?, meanwhile: (() -> Void)?) throws -> PGResult? {
        let riders = Array(connection.queued.prefix(count))
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

    /// Sends `batch` as one pipeline ending in one Sync: each statement's result, or its error, or nil when an
    /// earlier one failed and it did not run. Throws when the round trip itself failed.
    private func pipeline(_ batch: [SQL], meanwhile: (() -> Void)?) throws -> [Result<PGResult, DatabaseError>?] {
        // The first `sent` went ahead, into the pipeline open now; whatever happens, this closes it (or the
        // connection is reset, which rolls them back). A statement not prepared yet is prepared before the
        // pipeline opens, or in it once it is open (one more result, read before the statement's).
        let sent = connection.sentAhead
        defer { connection.sentAhead = 0 }
        if sent == 0 { try usePlanMode(of: batch[0]) }
        var statements: [(statement: PreparedStatement, preparesHere: Bool)] = []
        for (index, sql) in batch.enumerated() where index >= sent {
            let preparesHere = sent > 0 && connection.prepared[sql.text] == nil
            let statement: PreparedStatement
            if preparesHere {
                statement = PreparedStatement(name: "sluice_\(connection.prepared.count + 1)")
                connection.prepared[sql.text] = statement  // taken back below should its prepare fail
            } else {
                statement = try prepared(sql)
            }
            if index == batch.count - 1 { statement.executions += 1 } else { statement.rides += 1 }
            statements.append((statement, preparesHere))
        }
        if sent == 0 {
            guard PQenterPipelineMode(pointer) == 1 else { throw lost("cannot enter pipeline mode") }
        }
        var outcomes: [Result<PGResult, DatabaseError>?] = Array(repeating: nil, count: sent)
        do {
            for (sql, (statement, preparesHere)) in zip(batch[sent...], statements) {
                if preparesHere {
                    guard PQsendPrepare(pointer, statement.name, sql.text, Int32(sql.binds.count), nil) == 1
                    else { throw lost("cannot send a statement") }
                }
                let sent = withCStringArray(sql.binds) { values in
                    PQsendQueryPrepared(pointer, statement.name, Int32(sql.binds.count), values, nil, nil, 0)
                }
                guard sent == 1 else { throw lost("cannot send a statement") }
            }
            guard PQpipelineSync(pointer) == 1 else { throw lost("cannot send the pipeline's end") }  // and flushes
            meanwhile?()
            outcomes = []
            for index in batch.indices {
                var failedToPrepare: DatabaseError?
                if index >= sent, statements[index - sent].preparesHere {
                    switch try nextOutcome() {
                    case .success?: break
                    case .failure(let error)?:
                        failedToPrepare = error
                        connection.prepared[batch[index].text] = nil
                    case nil:  // not prepared: an earlier statement failed
                        connection.prepared[batch[index].text] = nil
                    }
                }
                let outcome = try nextOutcome()
                outcomes.append(failedToPrepare.map { .failure($0) } ?? outcome)
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

    /// The next result of a pipeline: its rows, its error, or nil when an earlier statement failed and it did
    /// not run. Reads up to the NULL that ends it; throws when it did not come.
    private func nextOutcome() throws -> Result<PGResult, DatabaseError>? {
        guard let result = PQgetResult(pointer) else { throw lost("a statement's result did not come") }
        defer { while let more = PQgetResult(pointer) { PQclear(more) } }
        if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
            PQclear(result)
            return nil
        }
        do {
            return .success(try consume(result))
        } catch let error as DatabaseError {
            return .failure(error)
        }
    }

    /// Sends the last queued write now, in a pipeline it opens or joins, without the Sync that would end its
    /// transaction: the server runs it while the caller goes on (an ending while the engine readies the next
    /// start), and the statement that closes the pipeline commits it, as if it had waited in the queue.
    /// Not sent (it waits in the queue, as before) when the connection is not idle and ready, or when an
    /// earlier queued write was not sent; in an open pipeline, only a prepared statement of its planning kind
    /// joins. A send that fails leaves it queued and the connection to be reset: with no Sync sent, nothing
    /// of the pipeline can have committed.
    func sendAhead() {
        guard let sql = connection.queued.last, connection.sentAhead == connection.queued.count - 1,
            connection.queuedMaybeCommitted == 0, !connection.mustReset, PQstatus(pointer) == CONNECTION_OK
        else { return }
        if connection.sentAhead == 0 {
            guard PQtransactionStatus(pointer) == PQTRANS_IDLE, PQpipelineStatus(pointer) == PQ_PIPELINE_OFF,
                (try? usePlanMode(of: sql)) != nil, (try? prepared(sql)) != nil,
                PQenterPipelineMode(pointer) == 1
            else { return }
        } else {
            guard sql.plansOnce == connection.queued[0].plansOnce, connection.prepared[sql.text] != nil else { return }
        }
        guard let statement = connection.prepared[sql.text] else { return }
        let name = statement.name
        let sent = withCStringArray(sql.binds) { values in
            PQsendQueryPrepared(pointer, name, Int32(sql.binds.count), values, nil, nil, 0)
        }
        guard sent == 1, PQflush(pointer) == 0 else {
            connection.sentAhead = 0
            connection.mustReset = true
            return
        }
        statement.rides += 1
        connection.sentAhead += 1
    }

    /// A lost round trip, with libpq's word for why.
    private func lost(_ what: String) -> DatabaseError {
        let detail = ConnInfo.redact(String(cString: PQerrorMessage(pointer)), secrets: secrets)
        return DatabaseError(.connection, "\(what): \(detail)")
    }
}
