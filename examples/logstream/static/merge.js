"use strict";
// LogMerge keeps the rows of the log view (an <ol>) in order when they come
// from several files, each over its own socket: a file's rows stay in the
// order they arrived (the file's order), and across files they are ordered
// by their order time (a frame's "at": the line's own time, or the server's
// choice for a line without one). A row is placed after the last row of its
// own file and after every row with an order time up to its own; so the
// backfills of two files, which arrive one after the other, interleave, and
// a live line, which is the newest, goes at the bottom. It only moves the
// elements it is given; it makes none.
(function (global) {
  class LogMerge {
    // list is the <ol>; max the rows it keeps: past it, the first go.
    constructor(list, max) {
      this.list = list;
      this.max = max;
      this.rows = []; // {src, at, el}, as in the list
    }

    get length() {
      return this.rows.length;
    }

    // lastAt is the order time of the last row of src, or of the last row
    // at all when src has none: where a row without a time of its own (a
    // notice) goes.
    lastAt(src) {
      for (let i = this.rows.length - 1; i >= 0; i--) {
        if (this.rows[i].src === src) return this.rows[i].at;
      }
      return this.rows.length > 0 ? this.rows[this.rows.length - 1].at : -Infinity;
    }

    // add places each row {src, at, el} in turn, then drops the first rows
    // beyond max. It returns the rows added that are still there.
    add(rows) {
      for (const row of rows) {
        const rs = this.rows;
        let i = rs.length;
        while (i > 0 && rs[i - 1].src !== row.src && rs[i - 1].at > row.at) i--;
        this.list.insertBefore(row.el, i < rs.length ? rs[i].el : null);
        rs.splice(i, 0, row);
      }
      const extra = this.rows.length - this.max;
      if (extra > 0) {
        for (const r of this.rows.splice(0, extra)) r.el.remove();
      }
      return rows.filter((r) => r.el.isConnected).length;
    }

    // remove takes out the rows for which drop(row) is true.
    remove(drop) {
      this.rows = this.rows.filter((r) => {
        if (!drop(r)) return true;
        r.el.remove();
        return false;
      });
    }

    clear() {
      this.rows = [];
      this.list.replaceChildren();
    }
  }

  global.LogMerge = LogMerge;
})(window);
