import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { operatorScript } from '../../../src/ui/ui-assets';

const BROWSER_DIR = path.resolve(__dirname, '../../../src/ui/browser');
const SCRIPT = path.join(BROWSER_DIR, 'operator.js');

describe('the operator page script (src/ui/browser/operator.js)', () => {
  test('When it is type-checked against the DOM (browser/tsconfig.json), then it has no errors', () => {
    // Arrange
    const parsed = ts.getParsedCommandLineOfConfigFile(path.join(BROWSER_DIR, 'tsconfig.json'), undefined, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });

    // Act
    const program = ts.createProgram({ rootNames: parsed!.fileNames, options: parsed!.options });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);

    // Assert
    expect(parsed!.fileNames).toContain(SCRIPT);
    expect(errors).toEqual([]);
  });

  test('When the gateway serves /ui/app.js, then it is the file as written', () => {
    // Act
    const served = operatorScript();

    // Assert
    expect(served).toBe(fs.readFileSync(SCRIPT, 'utf8'));
  });

  test('When it renders engine or user data, then it uses textContent, never innerHTML or eval-like sinks', () => {
    // Act
    const code = fs.readFileSync(SCRIPT, 'utf8');

    // Assert
    expect(code).not.toMatch(/\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(/);
    expect(code).toMatch(/textContent/);
  });
});
