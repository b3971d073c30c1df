import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tfFloat } from '../../src/protocol/tf-values.js';

test('floats are written as TF-Serving writes them: %g, else %.9g (%.17g for doubles), .0 after a whole number without an exponent', () => {
  const float = (n: number) => tfFloat(Math.fround(n), 'float');
  const cases: [string, string][] = [
    [float(32), '32.0'],
    [float(-1.5), '-1.5'],
    [float(0.1), '0.1'],
    [float(0.000123), '0.000123'],
    [float(1e-5), '1e-05'],
    [float(-0.0000123456), '-1.23456e-05'],
    [float(0.000999999), '0.000999999'],
    [float(999999.5), '999999.5'],
    [float(1e6), '1e+06'],
    // Six digits would read back as another float: nine, then .0 for a whole number.
    [float(9999999), '9999999.0'],
    [float(123456789), '123456792.0'],
    [float(1 / 3), '0.333333343'],
    [float((1 / 3) * 1e-5), '3.33333332e-06'],
    [float(3.4028234663852886e38), '3.40282347e+38'],
    // Nine digits in an exponent, either side; six digits that carry to another power of ten.
    [float(12345678901), '1.23456788e+10'],
    [float(-2.5e9), '-2.5e+09'],
    [float(0.000123456789), '0.00012345679'],
    [float(1.2345678e-7), '1.23456786e-07'],
    [float(-9.87654321e-14), '-9.87654308e-14'],
    [float(1.5e-15), '1.5e-15'],
    [float(0.0099999999), '0.01'],
    [float(99999999.99), '1e+08'],
    [float(999999.9), '999999.875'],
    // A tie is rounded to even, as printf rounds it.
    [float(1234567.125), '1234567.12'],
    [float(1234567.375), '1234567.38'],
    [float(-1234567.125), '-1234567.12'],
    [tfFloat(137859068988376.625, 'double'), '137859068988376.62'],
    [tfFloat(47760464456922.0546875, 'double'), '47760464456922.055'],
    [tfFloat(0.1, 'double'), '0.1'],
    [tfFloat(1 / 3, 'double'), '0.33333333333333331'],
    [tfFloat(1e300, 'double'), '1e+300'],
    [tfFloat(5e-324, 'double'), '4.94066e-324'],
    [tfFloat(-0, 'float'), '-0.0'],
    [tfFloat(Number.NaN, 'double'), 'NaN'],
    [tfFloat(Number.POSITIVE_INFINITY, 'float'), 'Infinity'],
    [tfFloat(Number.NEGATIVE_INFINITY, 'double'), '-Infinity'],
  ];
  assert.deepEqual(cases.map(([actual]) => actual), cases.map(([, expected]) => expected));
});
