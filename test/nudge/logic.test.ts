// Pure nudge logic: what counts as idle, how text is made safe to type, channel patterns.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addressPattern, looksIdle, typedText } from '../../src/nudge/nudge.ts';

test('idle: the ready prompt near the bottom, and no "esc to interrupt"', () => {
  assert.ok(looksIdle('fake agent starting\n❯', '❯ '));
  assert.ok(
    looksIdle('output\n│ ❯ \n╰──────╯\n  ? for shortcuts', '❯ '),
    'prompt inside a box, status line below',
  );
  assert.not.ok(looksIdle('❯\nworking on it\n* Thinking… (esc to interrupt)', '❯ '));
  assert.not.ok(looksIdle('❯ old prompt\n1\n2\n3\n4\n5\n6', '❯ '), 'a prompt scrolled up is not idle');
  assert.not.ok(looksIdle('still compiling', '❯ '));
  assert.ok(looksIdle('anything stable', null), 'no prompt prefix: stability alone decides');
  assert.not.ok(looksIdle('Esc to interrupt', null));
});

test('typed text: newlines kept, CR/CRLF become LF, other controls become spaces, trailing newlines dropped', () => {
  assert.is(typedText('a\r\nb\rc\n'), 'a\nb\nc');
  assert.is(typedText('tab\there\u001b[31mred\u0007\u007f\u009b'), 'tab here [31mred   ');
  assert.is(typedText(`$(rm -rf /) \`x\` ; "q" 'q' ünï 🚚`), `$(rm -rf /) \`x\` ; "q" 'q' ünï 🚚`);
  assert.is(typedText('trailing spaces stay  \n\n'), 'trailing spaces stay  ');
});

test('channel patterns: * matches within one segment, trailing slash ignored, regex characters literal', () => {
  const re = (p: string, s: string) => addressPattern(p).test(s);
  assert.ok(re('*/witness', 'gastown/witness'));
  assert.not.ok(re('*/witness', 'a/b/witness'));
  assert.ok(re('gastown/crew/*', 'gastown/crew/bob'));
  assert.not.ok(re('gastown/crew/*', 'gastown/polecats/bob'));
  assert.ok(re('mayor/', 'mayor'));
  assert.not.ok(re('a.b/*', 'axb/c'));
  assert.ok(re('a.b/*', 'a.b/c'));
  assert.not.ok(re('(x)+', 'xx'));
});

test.run();
