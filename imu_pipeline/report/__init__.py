"""Outputs of a session: summary dict/JSON (:mod:`.summary`), text (:mod:`.text`), angles CSV
(:mod:`.angles`), plot (:mod:`.plot`); :mod:`.files` turns write errors into messages."""
