// The DICOM codecs ship without type declarations; the demo hands them to provideDicomModules as they are.
declare module 'jpeg-lossless-decoder-js';
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
declare module '@cornerstonejs/codec-charls/decodewasmjs';
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs';
declare module '@cornerstonejs/codec-openjph';
