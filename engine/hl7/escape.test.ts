import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIMITERS, escapeValue, parseHl7, unescapeValue, type Delimiters } from './index.js';

const D = DEFAULT_DELIMITERS;
const CUSTOM: Delimiters = { field: '$', component: '%', repetition: '*', escape: '!', subcomponent: '@', truncation: '' };
const V27: Delimiters = { ...D, truncation: '#' };
const MSH = 'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1';

describe('unescapeValue', () => {
  it('decodes the delimiter escapes', () => {
    expect(unescapeValue('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', D)).toBe('a|b^c&d~e\\f');
    expect(unescapeValue('a!F!b!S!c!T!d!R!e!E!f', CUSTOM)).toBe('a$b%c@d*e!f');
    expect(unescapeValue('\\F\\\\F\\', D)).toBe('||');
    expect(unescapeValue('x\\P\\', V27)).toBe('x#');
  });

  it('decodes hex escapes, two hex digits per byte', () => {
    expect(unescapeValue('a\\X0D0A\\b', D)).toBe('a\r\nb');
    expect(unescapeValue('\\X414243\\', D)).toBe('ABC');
    expect(unescapeValue('\\X7C\\', D)).toBe('|');
    expect(unescapeValue('caf\\XC3A9\\', D)).toBe('café'); // valid UTF-8 bytes
    expect(unescapeValue('caf\\XE9\\', D)).toBe('café'); // a lone byte: latin1
    expect(unescapeValue('\\XE282AC\\', D)).toBe('€');
    expect(unescapeValue('\\XEFBFBD\\', D)).toBe('\uFFFD'); // U+FFFD itself is valid UTF-8
    expect(unescapeValue('\\Xe9\\', D)).toBe('é');
  });

  it('keeps malformed hex escapes as written', () => {
    expect(unescapeValue('\\X\\', D)).toBe('\\X\\');
    expect(unescapeValue('\\X0\\', D)).toBe('\\X0\\');
    expect(unescapeValue('\\XGG\\', D)).toBe('\\XGG\\');
    expect(unescapeValue('\\X0D 0A\\', D)).toBe('\\X0D 0A\\');
  });

  it('keeps formatting, charset, local and unknown escapes as written', () => {
    for (const kept of ['\\.br\\', '\\H\\', '\\N\\', '\\.sp2\\', '\\.in+4\\', '\\.ce\\', '\\C2842\\', '\\M2442\\', '\\Zlocal\\', '\\Q\\', '\\FF\\']) {
      expect(unescapeValue(`x${kept}y`, D)).toBe(`x${kept}y`);
    }
    expect(unescapeValue('line1\\.br\\line\\T\\2', D)).toBe('line1\\.br\\line&2');
  });

  it('leaves an unterminated escape as data', () => {
    expect(unescapeValue('C:\\temp', D)).toBe('C:\\temp');
    expect(unescapeValue('a\\F\\b\\', D)).toBe('a|b\\');
  });

  it('keeps escapes for delimiters the message does not declare', () => {
    const noSub: Delimiters = { ...D, subcomponent: '' };
    expect(unescapeValue('a\\T\\b', noSub)).toBe('a\\T\\b');
    expect(unescapeValue('a\\R\\b', { ...D, repetition: '' })).toBe('a\\R\\b');
    expect(unescapeValue('a\\P\\b', D)).toBe('a\\P\\b');
    expect(unescapeValue('a\\F\\b', { ...D, escape: '' })).toBe('a\\F\\b');
  });
});

describe('escapeValue', () => {
  it('encodes every delimiter and the escape character', () => {
    expect(escapeValue('a|b^c&d~e\\f', D)).toBe('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f');
    expect(escapeValue('a$b%c@d*e!f|^&~\\', CUSTOM)).toBe('a!F!b!S!c!T!d!R!e!E!f|^&~\\');
    expect(escapeValue('x#', V27)).toBe('x\\P\\');
    expect(escapeValue('x#', D)).toBe('x#');
    expect(escapeValue('plain text', D)).toBe('plain text');
  });

  it('hex-encodes line breaks and MLLP framing bytes', () => {
    expect(escapeValue('a\r\nb', D)).toBe('a\\X0D\\\\X0A\\b');
    expect(escapeValue('\x0bx\x1c', D)).toBe('\\X0B\\x\\X1C\\');
  });

  it('keeps formatting escapes already in the value', () => {
    expect(escapeValue('line1\\.br\\line2', D)).toBe('line1\\.br\\line2');
    expect(escapeValue('\\H\\bold\\N\\ & more', D)).toBe('\\H\\bold\\N\\ \\T\\ more');
    expect(escapeValue('!.br!x', CUSTOM)).toBe('!.br!x');
    expect(escapeValue('\\Zabc\\', D)).toBe('\\Zabc\\');
  });

  it('does not keep an escape-like run that contains a delimiter', () => {
    // Written verbatim, the '|' inside would split the field.
    expect(escapeValue('\\.br|x\\', D)).toBe('\\E\\.br\\F\\x\\E\\');
    expect(escapeValue('\\Ca^b\\', D)).toBe('\\E\\Ca\\S\\b\\E\\');
    expect(escapeValue('\\.br\nx\\', D)).toBe('\\E\\.br\\X0A\\x\\E\\');
  });

  it('encodes escape sequences that are data', () => {
    expect(escapeValue('\\F\\', D)).toBe('\\E\\F\\E\\');
    expect(escapeValue('\\X0D\\', D)).toBe('\\E\\X0D\\E\\');
    expect(escapeValue('\\', D)).toBe('\\E\\');
  });

  it('drops delimiters when the message declares no escape character', () => {
    expect(escapeValue('a|b^c~d\re', { ...D, escape: '', subcomponent: '' })).toBe('abcde');
  });

  it('is undone by unescapeValue for any value without formatting escapes', () => {
    const chars = fc.constantFrom('|', '^', '~', '\\', '&', '#', '$', '%', '*', '!', '@', 'X', 'H', 'N', '.', 'b', 'r', '0', 'D', '\r', '\n', '\x0b', '\x1c', 'é', '😀');
    fc.assert(fc.property(fc.array(chars, { maxLength: 30 }).map((a) => a.join('')), fc.constantFrom(D, CUSTOM, V27), (v, d) => {
      const encoded = escapeValue(v, d);
      for (const c of [d.field, d.component, d.repetition, d.subcomponent, '\r', '\n'].filter(Boolean)) {
        expect(encoded.includes(c)).toBe(false);
      }
      // Values holding a kept escape (\H\, \.br\ ...) come back as themselves too: both sides keep it.
      expect(unescapeValue(encoded, d)).toBe(v);
    }), { numRuns: 2000 });
  });
});

describe('escapes through a message', () => {
  it('decodes on get, keeps the raw text on getRaw', () => {
    const m = parseHl7(`${MSH}\rNTE|1||Smith \\T\\ Sons\\F\\ Ltd \\S\\ Co\\R\\x \\E\\ y \\X41\\\r`);
    expect(m.get('NTE-3')).toBe('Smith & Sons| Ltd ^ Co~x \\ y A');
    expect(m.getRaw('NTE-3')).toBe('Smith \\T\\ Sons\\F\\ Ltd \\S\\ Co\\R\\x \\E\\ y \\X41\\');
  });

  it('encodes on set, writes escapes to the wire and reads back the value', () => {
    const m = parseHl7(`${MSH}\rPID|1\r`);
    m.set('PID-5.1', "O'Brien & Sons|Ltd^x~y\\z\r\nnext");
    const wire = m.toString();
    expect(wire).toContain("PID|1||||O'Brien \\T\\ Sons\\F\\Ltd\\S\\x\\R\\y\\E\\z\\X0D\\\\X0A\\next\r");
    expect(wire.split('\r').filter(Boolean)).toHaveLength(2);
    expect(parseHl7(wire).get('PID-5.1')).toBe("O'Brien & Sons|Ltd^x~y\\z\r\nnext");
  });

  it('keeps formatting escapes intact on read and after set', () => {
    const ft = 'Result:\\.br\\\\H\\HIGH\\N\\ value\\.br\\\\.sp2\\end';
    const m = parseHl7(`${MSH}\rOBX|1|FT|X||${ft}|\r`);
    expect(m.get('OBX-5')).toBe(ft);
    m.set('OBX-5', 'new\\.br\\text & more\\.br\\');
    expect(m.getRaw('OBX-5')).toBe('new\\.br\\text \\T\\ more\\.br\\');
    expect(m.toString()).toContain('|new\\.br\\text \\T\\ more\\.br\\|');
    expect(parseHl7(m.toString()).get('OBX-5')).toBe('new\\.br\\text & more\\.br\\');
  });

  it('escapes with the message delimiters, including custom ones', () => {
    const m = parseHl7('MSH$%*!@$A\rOBX$1$FT$X$$one!.br!two!F!\r');
    expect(m.get('OBX-5')).toBe('one!.br!two$');
    m.set('OBX-5', 'a$b!.br!c');
    expect(m.getRaw('OBX-5')).toBe('a!F!b!.br!c');
  });
});
